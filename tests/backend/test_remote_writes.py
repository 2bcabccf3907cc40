"""Writing to an object store (a real moto S3 server on loopback, behind a middleware that counts PUTs in
flight and can refuse them): the same bytes as a local write, concurrent PUTs within zarr's
``async.concurrency`` (serial writes, the process pool), failed PUTs named and the store left incomplete
as a local write leaves it, transient 5xx retried."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import numpy as np
import pytest
import zarr
from pynwb import TimeSeries
from pynwb.testing.mock.file import mock_NWBFile
from tests.parallel.iterators import ArrayIterator
from zarr.buffer import default_buffer_prototype
from zarr.storage import FsspecStore, LocalStore

from _helpers import assert_containers_equal
from _nwb_factory import broad_nwbfile
from _s3_server import CountingS3, counting_s3_server
from nwbzarr import NWBZarrIO, WriteError
from nwbzarr._private_api import sync
from nwbzarr.errors import FormatError
from nwbzarr.info import summarise
from nwbzarr.storage.remote_writes import BoundedFsspecStore, BoundedObjectStore, bounded_writes
from nwbzarr.writing import INCOMPLETE_ATTR

pytestmark = pytest.mark.timeout(180)
_buckets = itertools.count()
DATA = np.arange(4000 * 8, dtype="int16").reshape(4000, 8)
CHUNK_ROWS = 50  # 80 chunks of DATA


@pytest.fixture(scope="module")
def server(s3_server) -> Iterator[tuple[str, CountingS3]]:
    """(endpoint, middleware) of a moto server of this module's own (credentials from ``s3_server``'s)."""
    with counting_s3_server() as found:
        yield found


@pytest.fixture()
def s3(server) -> Iterator[dict]:
    """A new bucket, the options that reach it, and the middleware reset (no delay, no failures)."""
    import boto3

    endpoint, middleware = server
    bucket = f"remote-writes-{next(_buckets)}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    middleware.stats.reset()
    yield {"bucket": bucket, "options": {"endpoint_url": endpoint}, "server": middleware}
    middleware.delay, middleware.fail = 0.0, None


def _series_file(data=DATA, name: str = "ts") -> object:
    from nwbzarr import ZarrDataIO

    nwb = mock_NWBFile()
    nwb.add_acquisition(TimeSeries(name=name, data=ZarrDataIO(data, chunks=(CHUNK_ROWS, data.shape[1])),
                                   unit="uV", rate=1000.0))
    return nwb


def _iterator_series(name: str, data=DATA) -> TimeSeries:
    """A series written from a GenericDataChunkIterator: by block, by any runner, marked incomplete meanwhile."""
    from nwbzarr import ZarrDataIO

    dci = ArrayIterator(data, buffer_shape=(500, data.shape[1]), chunk_shape=(CHUNK_ROWS, data.shape[1]))
    return TimeSeries(name=name, data=ZarrDataIO(dci, chunks=(CHUNK_ROWS, data.shape[1])), unit="uV", rate=1000.0)


def _store_bytes(store) -> dict[str, bytes]:
    """Every key of a store and its bytes (the writer's lock, if any, left out)."""
    async def read() -> dict[str, bytes]:
        proto = default_buffer_prototype()
        keys = [k async for k in store.list_prefix("") if "lock" not in k.rsplit("/", 1)[-1]]
        return {k: (await store.get(k, proto)).to_bytes() for k in keys}

    return sync(read())


def _s3_store(s3: dict, name: str) -> FsspecStore:
    return FsspecStore.from_url(f"s3://{s3['bucket']}/{name}", storage_options=s3["options"], read_only=True)


# --- what is written ----------------------------------------------------------------------------
@pytest.mark.parametrize("zarr_format", [3, 2])
def test_a_file_written_to_s3_is_the_local_write_byte_for_byte(s3, tmp_path, zarr_format):
    nwb = broad_nwbfile()
    local = tmp_path / "broad.nwb.zarr"
    with NWBZarrIO(local, "w", zarr_format=zarr_format) as io:
        io.write(nwb)
    url = f"s3://{s3['bucket']}/broad.nwb.zarr"
    with NWBZarrIO(url, "w", storage_options=s3["options"], zarr_format=zarr_format) as io:
        io.write(nwb)  # the same containers: the same object ids
    remote = _store_bytes(_s3_store(s3, "broad.nwb.zarr"))
    assert len(remote) > 100
    assert remote == _store_bytes(LocalStore(str(local), read_only=True))
    with NWBZarrIO(url, "r", storage_options=s3["options"]) as io:
        assert_containers_equal(io.read(), nwb)


def test_a_store_opened_for_writing_by_url_bounds_its_writes(s3):
    with NWBZarrIO(f"s3://{s3['bucket']}/x.nwb.zarr", "w", storage_options=s3["options"]) as io:
        assert type(io.store) is BoundedFsspecStore
        assert io.is_remote()
        assert io.write_session().store is io.store
    given = FsspecStore.from_url(f"s3://{s3['bucket']}/y.nwb.zarr", storage_options=s3["options"])
    with NWBZarrIO(given, "w") as io:  # a store given as it is: written through its bounded form
        io.write(_series_file())
        assert type(io.store) is BoundedFsspecStore and io.store.fs is given.fs
        assert io.write_session().store is io.store
    with NWBZarrIO(given, "r") as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], DATA)


# --- bounded concurrency --------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [2, 5])
def test_concurrent_puts_never_exceed_async_concurrency(s3, limit):
    """Every PUT held 20 ms at the server: the peak in flight reaches the limit and never passes it
    (aiobotocore's own pool would allow 10)."""
    s3["server"].delay = 0.02
    url = f"s3://{s3['bucket']}/x.nwb.zarr"
    with zarr.config.set({"async.concurrency": limit}):
        with NWBZarrIO(url, "w", storage_options=s3["options"]) as io:
            io.write(_series_file())
    stats = s3["server"].stats
    assert stats.puts > 80  # the chunks, the documents
    assert stats.peak_in_flight == limit
    with NWBZarrIO(url, "r", storage_options=s3["options"]) as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], DATA)


@pytest.mark.parametrize("limit", [2, 3])
def test_zarr_own_chunk_writes_are_bounded_too(s3, limit):
    """Sharded arrays and object arrays are written by zarr's ``setitem``: their PUTs take the same slots."""
    from nwbzarr import ZarrDataIO

    s3["server"].delay = 0.02
    nwb = mock_NWBFile()
    nwb.add_acquisition(TimeSeries(name="sharded", data=ZarrDataIO(DATA, chunks=(CHUNK_ROWS, 8),
                                                                   shards=(4 * CHUNK_ROWS, 8)),
                                   unit="uV", rate=1000.0))
    url = f"s3://{s3['bucket']}/sharded.nwb.zarr"
    with zarr.config.set({"async.concurrency": limit}):
        with NWBZarrIO(url, "w", storage_options=s3["options"]) as io:
            io.write(nwb)
    assert s3["server"].stats.peak_in_flight == limit
    with NWBZarrIO(url, "r", storage_options=s3["options"]) as io:
        np.testing.assert_array_equal(io.read().acquisition["sharded"].data[:], DATA)


def test_a_migration_to_a_given_s3_store_is_bounded(s3, tmp_path):
    """``migrate`` into a store object (not a URL): chunks and thousands-at-once documents within the limit."""
    from nwbzarr.migrate import migrate

    local = tmp_path / "x.nwb.zarr"
    with NWBZarrIO(local, "w") as io:
        io.write(_series_file())
    s3["server"].delay = 0.02
    target = FsspecStore.from_url(f"s3://{s3['bucket']}/legacy.nwb.zarr", storage_options=s3["options"])
    with zarr.config.set({"async.concurrency": 2}):
        report = migrate(str(local), target, "v2")
    assert report.ok, report
    assert s3["server"].stats.peak_in_flight == 2 and s3["server"].stats.puts > 80
    with NWBZarrIO(target, "r") as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], DATA)


@pytest.mark.parametrize("context", ["spawn", "fork"])
def test_every_worker_of_a_process_pool_is_bounded(s3, context):
    """Two worker processes each within the limit set in the parent (spawned workers get it passed):
    at most 2 x limit PUTs in flight, and the same bytes as a serial write."""
    limit = 2
    s3["server"].delay = 0.02
    serial, pooled = (f"s3://{s3['bucket']}/{name}.nwb.zarr" for name in ("serial", "pooled"))
    for url, jobs in ((serial, 1), (pooled, 2)):
        nwb = _iterator_file()
        s3["server"].stats.reset()
        with zarr.config.set({"async.concurrency": limit}):
            with NWBZarrIO(url, "w", storage_options=s3["options"]) as io:
                io.write(nwb, number_of_jobs=jobs, multiprocessing_context=context if jobs > 1 else None)
        peak = s3["server"].stats.peak_in_flight
        assert peak == limit if jobs == 1 else limit < peak <= jobs * limit  # both workers wrote at once
    data = {name: _store_bytes(_s3_store(s3, f"{name}.nwb.zarr")) for name in ("serial", "pooled")}
    chunks = {k: v for k, v in data["serial"].items() if k.startswith("acquisition/ts/data/c/")}
    assert len(chunks) >= 80
    assert chunks == {k: v for k, v in data["pooled"].items() if k in chunks}
    with NWBZarrIO(pooled, "r", storage_options=s3["options"]) as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], DATA)


def test_every_dask_worker_is_bounded(s3):
    """Two dask worker processes, each within the limit set here (sent with every task)."""
    from distributed import Client, LocalCluster

    limit = 2
    s3["server"].delay = 0.02
    url = f"s3://{s3['bucket']}/dask.nwb.zarr"
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        with zarr.config.set({"async.concurrency": limit}):
            with NWBZarrIO(url, "w", storage_options=s3["options"]) as io:
                io.write(_iterator_file(), scheduler=client)
    assert limit < s3["server"].stats.peak_in_flight <= 2 * limit
    with NWBZarrIO(url, "r", storage_options=s3["options"]) as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], DATA)


def _iterator_file():
    nwb = mock_NWBFile()
    nwb.add_acquisition(_iterator_series("ts"))
    return nwb


# --- failures ---------------------------------------------------------------------------------------
def _refuse_chunks_of(dataset: str, after: int):
    """A rule: 403 for every PUT of a chunk of ``dataset`` (either layout) once ``after`` of them went through."""
    seen = itertools.count(1)

    def is_chunk(path: str) -> bool:  # v3: <dataset>/c/0/0; v2: <dataset>/0.0
        name = path.rsplit(f"/{dataset}/", 1)[1] if f"/{dataset}/" in path else ""
        return name.startswith("c/") or name[:1].isdigit()

    def rule(path: str, number: int) -> int | None:
        return 403 if is_chunk(path) and next(seen) > after else None

    return rule


def _refused_url_in(message: str, refused: list[str]) -> bool:
    """Whether the message names a refused key, as its key in the store and as its URL."""
    for path in refused:  # bucket/store/key as the server saw it
        key = path.split(".nwb.zarr/", 1)[1]
        if f"{key!r}" in message and f"s3://{path}" in message:
            return True
    return False


def test_a_refused_put_names_the_key_and_the_url_and_nothing_looks_complete(s3, tmp_path):
    s3["server"].fail = _refuse_chunks_of("acquisition/ts/data", after=5)
    url = f"s3://{s3['bucket']}/refused.nwb.zarr"
    with pytest.raises(WriteError) as info:
        with NWBZarrIO(url, "w", storage_options=s3["options"]) as io:
            io.write(_series_file())
    message = str(info.value)
    refused = s3["server"].stats.failed_paths
    assert refused and all("acquisition/ts/data/c/" in p for p in refused)
    assert _refused_url_in(message, refused)
    assert "PermissionError" in message or "Access Denied" in message
    s3["server"].fail = None
    keys = set(_store_bytes(_s3_store(s3, "refused.nwb.zarr")))
    assert "zarr.json" not in keys  # the root (and consolidated metadata) is written last, as locally
    with pytest.raises(FormatError, match="not a Zarr store"):
        NWBZarrIO(url, "r", storage_options=s3["options"]).read()


@pytest.mark.parametrize("zarr_format,jobs", [(3, 1), (2, 1), (3, 2)])
def test_a_refused_iterator_write_leaves_the_dataset_marked_incomplete(s3, zarr_format, jobs):
    """As a local append whose iterator fails (tests/parallel/test_process_pool.py): the dataset keeps
    ``nwbzarr_incomplete``, ``nwbzarr info`` flags it once the metadata is consolidated; written in this
    process or by a worker process (whose traceback carries the message)."""
    url = f"s3://{s3['bucket']}/append.nwb.zarr"
    with NWBZarrIO(url, "w", storage_options=s3["options"], zarr_format=zarr_format) as io:
        io.write(_series_file())
    s3["server"].fail = _refuse_chunks_of("acquisition/late/data", after=3)
    with NWBZarrIO(url, "a", storage_options=s3["options"]) as io:
        nwb = io.read()
        nwb.add_acquisition(_iterator_series("late"))
        with pytest.raises(WriteError, match=r"acquisition/late/data") as info:
            io.write(nwb, number_of_jobs=jobs, multiprocessing_context="spawn" if jobs > 1 else None)
        assert f"s3://{s3['bucket']}/append.nwb.zarr/acquisition/late/data/" in str(info.value)
        s3["server"].fail = None
        io.consolidate_metadata()  # what a user does to look at a partial store
    document = "zarr.json" if zarr_format == 3 else ".zattrs"
    stored = _store_bytes(_s3_store(s3, "append.nwb.zarr"))
    raw = stored[f"acquisition/late/data/{document}"]
    attrs = json.loads(raw)
    assert (attrs["attributes"] if zarr_format == 3 else attrs)[INCOMPLETE_ATTR] is True
    flagged = {s.path: s.incomplete for s in summarise(url, s3["options"]) if s.kind == "array"}
    assert flagged["acquisition/late/data"] is True
    assert flagged["acquisition/ts/data"] is False


def test_a_transient_503_on_a_put_is_retried(s3):
    """One chunk's first PUT answered 503 SlowDown: the client tries again and the file is whole."""
    answered: set[str] = set()

    def once(path: str, number: int) -> int | None:
        if path.endswith("acquisition/ts/data/c/7/0") and path not in answered:
            answered.add(path)
            return 503
        return None

    s3["server"].fail = once
    url = f"s3://{s3['bucket']}/retried.nwb.zarr"
    with NWBZarrIO(url, "w", storage_options=s3["options"]) as io:
        io.write(_series_file())
    assert s3["server"].stats.failed == 1
    with NWBZarrIO(url, "r", storage_options=s3["options"]) as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], DATA)


def _obstore(s3: dict, name: str) -> object:
    from obstore.store import S3Store
    from zarr.storage import ObjectStore

    return ObjectStore(S3Store(s3["bucket"], prefix=name, endpoint=s3["options"]["endpoint_url"],
                               access_key_id="testing", secret_access_key="testing", region="us-east-1",
                               client_options={"allow_http": True}))


def test_an_obstore_store_is_bounded_and_named_too(s3):
    """zarr's ObjectStore (obstore's Rust client), given to the writer: the same limit, the same messages."""
    limit = 3
    s3["server"].delay = 0.02
    with zarr.config.set({"async.concurrency": limit}):
        with NWBZarrIO(_obstore(s3, "obstore.nwb.zarr"), "w") as io:
            assert type(io.write_session().store) is BoundedObjectStore
            io.write(_series_file())
    assert s3["server"].stats.peak_in_flight == limit
    with NWBZarrIO(_obstore(s3, "obstore.nwb.zarr"), "r") as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], DATA)
    s3["server"].delay, s3["server"].fail = 0.0, _refuse_chunks_of("acquisition/ts/data", after=0)
    with pytest.raises(WriteError) as info, NWBZarrIO(_obstore(s3, "refused.nwb.zarr"), "w") as io:
        io.write(_series_file())
    assert _refused_url_in(str(info.value), s3["server"].stats.failed_paths)


@pytest.mark.parametrize("client", ["fsspec", "obstore"])
def test_set_if_not_exists_takes_one_slot(s3, client):
    """zarr's default ``set_if_not_exists`` calls ``set``: with one slot, a second slot taken around it
    would wait forever."""
    import asyncio

    from zarr.core.buffer import cpu

    store = bounded_writes(FsspecStore.from_url(f"s3://{s3['bucket']}/once.zarr", storage_options=s3["options"])
                           if client == "fsspec" else _obstore(s3, "once.zarr"))

    async def twice() -> None:
        for value in (b"first", b"second"):
            await asyncio.wait_for(store.set_if_not_exists("k", cpu.Buffer.from_bytes(value)), 20)

    with zarr.config.set({"async.concurrency": 1}):
        sync(twice())
    assert _store_bytes(_s3_store(s3, "once.zarr")) == {"k": b"first"}


def test_the_bounded_store_pickles_with_its_options(s3):
    import pickle

    store = BoundedFsspecStore.from_url(f"s3://{s3['bucket']}/p.zarr", storage_options=s3["options"])
    again = pickle.loads(pickle.dumps(store))
    assert type(again) is BoundedFsspecStore and again.fs.storage_options == store.fs.storage_options
