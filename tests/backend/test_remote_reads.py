"""Remote reads over real HTTP servers on 127.0.0.1 (tests/_http_server.py): one bounded request path (zarr's
``async.concurrency``), transient errors retried by the client, permanent ones raised at once with the URL
and status, missing chunks read as the fill value and missing documents named; with either remote client
(fsspec, obstore: nwbzarr.storage.remote_clients)."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import zarr
from pynwb import NWBFile, TimeSeries
from zarr.storage import FsspecStore, ObjectStore

from _http_server import serve_directory
from nwbzarr import NWBZarrIO, ZarrDataIO
from nwbzarr.errors import FormatError

N_SERIES = 300
N_UNITS = 40
LONG_CHUNK = 100
LONG_LEN = 6000  # 60 chunks read by one slice: a batch well past the request limit


def _w2_like() -> NWBFile:
    """A few hundred short TimeSeries, one chunked long one and a units table (W2's shape, smaller)."""
    rng = np.random.default_rng(0)
    nwb = NWBFile(session_description="remote reads", identifier="remote-w2",
                  session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    for i in range(N_SERIES):
        nwb.add_acquisition(TimeSeries(name=f"ts{i:03d}", data=rng.normal(size=50).astype("f4"), unit="V",
                                       rate=10.0 + i, starting_time=float(i)))
    long = ZarrDataIO(rng.integers(0, 1000, size=LONG_LEN).astype("i4"), chunks=(LONG_CHUNK,))
    nwb.add_acquisition(TimeSeries(name="long", data=long, unit="V", rate=1000.0))
    for _ in range(N_UNITS):
        nwb.add_unit(spike_times=np.sort(rng.uniform(0, 100, size=int(rng.integers(1, 30)))))
    return nwb


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding ``x.nwb.zarr``, written locally by NWBZarrIO."""
    root = tmp_path_factory.mktemp("served")
    with NWBZarrIO(str(root / "x.nwb.zarr"), "w") as io:
        io.write(_w2_like())
    return root


def _contents(nwb: NWBFile) -> dict[str, object]:
    """Everything the file holds that the tests compare: every series' data and timing, every unit's spikes."""
    out: dict[str, object] = {}
    for name, ts in nwb.acquisition.items():
        out[name] = (np.asarray(ts.data[:]), ts.rate, ts.starting_time, ts.unit)
    out["units"] = [np.asarray(nwb.units["spike_times"][i]) for i in range(len(nwb.units))]
    out["units_id"] = list(nwb.units.id[:])
    return out


def _assert_same(a: dict[str, object], b: dict[str, object]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if key == "units":
            assert len(a[key]) == len(b[key]) == N_UNITS
            for x, y in zip(a[key], b[key]):
                np.testing.assert_array_equal(x, y)
        elif key == "units_id":
            assert a[key] == b[key]
        else:
            np.testing.assert_array_equal(a[key][0], b[key][0])
            assert a[key][1:] == b[key][1:]


@pytest.fixture(params=["fsspec", "obstore"])
def client(request: pytest.FixtureRequest) -> dict:
    """The storage options choosing each remote client."""
    return {"remote_client": request.param}


@pytest.fixture(scope="module")
def local_contents(served: Path) -> dict[str, object]:
    with NWBZarrIO(str(served / "x.nwb.zarr"), "r") as io:
        return _contents(io.read())


def _read_remote(url: str, client: dict) -> dict[str, object]:
    with NWBZarrIO(url, "r", storage_options=client) as io:
        assert isinstance(io.store, ObjectStore if client["remote_client"] == "obstore" else FsspecStore)
        return _contents(io.read())


@pytest.mark.parametrize("limit", [1, 4])
def test_capped_server_serves_a_full_read_within_the_limit(served: Path, local_contents: dict, limit: int,
                                                           client: dict) -> None:
    """A server that resets connections beyond 4 in flight serves the whole file; the client never has more
    than ``async.concurrency`` requests in flight (the 60-chunk slice alone would otherwise start 60)."""
    with serve_directory(served, max_connections=4, delay=0.002) as server, \
            zarr.config.set({"async.concurrency": limit}):
        _assert_same(_read_remote(server.url("x.nwb.zarr"), client), local_contents)
    assert server.stats.peak_in_flight <= limit
    assert server.stats.reset == 0
    assert server.stats.requests > N_SERIES  # every series' data was fetched over HTTP
    if limit > 1:
        assert server.stats.peak_in_flight == limit  # the batches do run concurrently


def test_the_limit_is_shared_by_concurrent_reads(served: Path, local_contents: dict, client: dict) -> None:
    """Four threads slicing the 60-chunk dataset at once: together they never exceed the one limit."""
    from concurrent.futures import ThreadPoolExecutor

    with serve_directory(served, max_connections=4, delay=0.005) as server, \
            zarr.config.set({"async.concurrency": 2}), \
            NWBZarrIO(server.url("x.nwb.zarr"), "r", storage_options=client) as io:
        data = io.read().acquisition["long"].data
        with ThreadPoolExecutor(4) as pool:
            parts = list(pool.map(lambda i: data[i * 1500:(i + 1) * 1500], range(4)))
    np.testing.assert_array_equal(np.concatenate(parts), local_contents["long"][0])
    assert server.stats.peak_in_flight == 2
    assert server.stats.reset == 0


def test_unbounded_batches_are_what_the_cap_resets(served: Path, client: dict) -> None:
    """The same capped server, read with a limit above its cap: it resets connections, and the client's
    retries still complete the read (so the limit, not luck, keeps the test above free of resets)."""
    with serve_directory(served, max_connections=4, delay=0.005) as server, \
            zarr.config.set({"async.concurrency": 32}), \
            NWBZarrIO(server.url("x.nwb.zarr"), "r", storage_options=client) as io:
        data = io.read().acquisition["long"].data[:]
    assert server.stats.peak_in_flight > 4
    assert server.stats.reset > 0
    assert data.shape == (LONG_LEN,)


def test_server_answering_some_503s_serves_a_full_read(served: Path, local_contents: dict, client: dict) -> None:
    """10% of requests answered 503: the HTTP client retries them with backoff, the read is complete."""
    with serve_directory(served, unavailable_fraction=0.1, seed=1) as server:
        _assert_same(_read_remote(server.url("x.nwb.zarr"), client), local_contents)
    assert server.stats.unavailable > 10


def _copy(served: Path, tmp_path: Path) -> Path:
    shutil.copytree(served / "x.nwb.zarr", tmp_path / "x.nwb.zarr")
    return tmp_path


def _chunk_files(store: Path, array: str) -> list[Path]:
    return sorted(p for p in (store / array).rglob("*") if p.is_file() and p.name not in ("zarr.json", ".zarray"))


def test_missing_chunk_reads_as_the_fill_value(served: Path, tmp_path: Path, local_contents: dict,
                                               client: dict) -> None:
    """A 404 on a chunk is a chunk never written: zarr reads it as the array's fill value, as locally."""
    root = _copy(served, tmp_path)
    store = root / "x.nwb.zarr"
    chunks = _chunk_files(store, "acquisition/long/data")
    assert len(chunks) == LONG_LEN // LONG_CHUNK
    chunks[1].unlink()
    meta = json.loads((store / "acquisition/long/data/zarr.json").read_text())
    fill = meta["fill_value"]
    with NWBZarrIO(str(store), "r") as io:
        local = io.read().acquisition["long"].data[:]
    expected = np.array(local_contents["long"][0])
    expected[LONG_CHUNK:2 * LONG_CHUNK] = fill
    with serve_directory(root) as server, \
            NWBZarrIO(server.url("x.nwb.zarr"), "r", storage_options=client) as io:
        remote = io.read().acquisition["long"].data[:]
    np.testing.assert_array_equal(remote, expected)
    np.testing.assert_array_equal(local, expected)


def test_missing_metadata_document_is_named(served: Path, tmp_path: Path, client: dict) -> None:
    """A 404 on the root's metadata document: the error names the key, not a bare 'not found'."""
    root = _copy(served, tmp_path)
    (root / "x.nwb.zarr" / "zarr.json").unlink()
    with serve_directory(root) as server, pytest.raises(FormatError) as info:
        with NWBZarrIO(server.url("x.nwb.zarr"), "r", storage_options=client) as io:
            io.read()
    assert "no zarr.json" in str(info.value)
    assert server.url("x.nwb.zarr") in str(info.value)
    # only the three documents a store may start with, each asked once (NWBZarrIO opens the store once) and
    # none retried (a 404 is permanent)
    assert sorted(p.rsplit("/", 1)[1] for p in server.stats.paths) == [".zgroup", ".zmetadata", "zarr.json"]


@pytest.mark.parametrize("status", [403, 401])
def test_permanent_error_fails_fast_with_url_and_status(served: Path, status: int, client: dict) -> None:
    """Every request refused (403/401): the open fails within seconds, naming the URL and the status."""
    start = time.monotonic()
    with serve_directory(served, status=status) as server, pytest.raises(Exception) as info:
        with NWBZarrIO(server.url("x.nwb.zarr"), "r", storage_options=client) as io:
            io.read()
    assert time.monotonic() - start < 5
    message = "".join(str(e) for e in _chain(info.value))
    assert str(status) in message
    assert f"127.0.0.1:{server.port}" in message
    assert server.stats.requests < 10  # no retry loop on a permanent error


def test_persistent_503_gives_up_with_the_status(served: Path, client: dict) -> None:
    """A server that stays unavailable: the retries end within seconds and the error names the 503."""
    start = time.monotonic()
    with serve_directory(served, status=503) as server, pytest.raises(Exception) as info:
        with NWBZarrIO(server.url("x.nwb.zarr"), "r", storage_options=client) as io:
            io.read()
    assert time.monotonic() - start < 30
    assert "503" in "".join(str(e) for e in _chain(info.value))


def _chain(err: BaseException) -> list[BaseException]:
    out = []
    while err is not None and err not in out:
        out.append(err)
        err = err.__cause__ or err.__context__
    return out


N_LABELS = 80_000  # text over 1 MB: read in slices through zarr's own array reads, not whole
LABEL_CHUNK = 1000


@pytest.fixture(scope="module")
def served_text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose one big dataset is text (read by zarr's AsyncArray, not nwbzarr's numeric chunk reader)."""
    from hdmf.common import DynamicTable, VectorData

    root = tmp_path_factory.mktemp("served-text")
    nwb = NWBFile(session_description="text", identifier="remote-text",
                  session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    labels = np.array([f"label-{i}" for i in range(N_LABELS)], dtype=object)
    table = DynamicTable(name="labels", description="many text rows", id=list(range(N_LABELS)),
                         columns=[VectorData(name="label", description="text",
                                             data=ZarrDataIO(labels, chunks=(LABEL_CHUNK,)))])
    nwb.create_processing_module("text", "text data").add(table)
    with NWBZarrIO(str(root / "t.nwb.zarr"), "w") as io:
        io.write(nwb)
    return root


def test_zarr_array_reads_share_the_limit(served_text: Path, client: dict) -> None:
    """Four threads slicing a text dataset at once (zarr's own reads, each bounded alone by
    ``async.concurrency``): together they still never exceed the one shared limit."""
    from concurrent.futures import ThreadPoolExecutor

    part = N_LABELS // 4
    with serve_directory(served_text, max_connections=2, delay=0.005) as server, \
            zarr.config.set({"async.concurrency": 2}), \
            NWBZarrIO(server.url("t.nwb.zarr"), "r", storage_options=client) as io:
        column = io.read().processing["text"]["labels"]["label"].data
        with ThreadPoolExecutor(4) as pool:
            parts = list(pool.map(lambda i: column[i * part:(i + 1) * part], range(4)))
    assert [str(x) for x in np.concatenate(parts)[::9999]] == [f"label-{i}" for i in range(0, N_LABELS, 9999)]
    assert server.stats.reset == 0
    assert server.stats.peak_in_flight == 2
