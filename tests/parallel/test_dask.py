"""Dask: writes on a real two-process LocalCluster (loopback) to a local store and to S3 (moto server),
byte-identical to serial writes; failures; ``as_dask`` reads aligned to the stored chunks."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from zarr.storage import FsspecStore, LocalStore

from nwbzarr import NWBZarrIO
from nwbzarr.distributed import as_dask
from nwbzarr.parallel import INCOMPLETE_ATTR, ParallelWriteError

from .conftest import KINDS, dump_kinds, iterator, sample_data, write, write_all_kinds
from .iterators import FailingIterator

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def client() -> Iterator:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def s3(s3_server) -> dict:
    """A bucket on the shared moto server and the storage options that reach it (credentials travel with them)."""
    import boto3

    endpoint = s3_server["endpoint_url"]
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="nwb-bucket")
    return {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}


def s3_store(options: dict, name: str) -> FsspecStore:
    return FsspecStore.from_url(f"s3://nwb-bucket/{name}-{uuid.uuid4().hex[:8]}.zarr", storage_options=options)


def test_cluster_workers_are_separate_processes(client) -> None:
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids


def test_local_store_write_is_byte_identical_to_serial(client, tmp_path) -> None:
    data = sample_data()
    write_all_kinds(tmp_path / "serial.zarr", data)
    write_all_kinds(tmp_path / "dask.zarr", data, scheduler=client)
    assert dump_kinds(LocalStore(str(tmp_path / "dask.zarr"))) == dump_kinds(LocalStore(str(tmp_path / "serial.zarr")))


def test_s3_write_is_byte_identical_to_serial(client, s3, tmp_path) -> None:
    data = sample_data((128, 40))  # fewer objects: moto answers each request in milliseconds
    serial, remote = s3_store(s3, "serial"), s3_store(s3, "dask")
    write_all_kinds(serial, data, cache_spec=False)
    write_all_kinds(remote, data, scheduler=client, cache_spec=False)
    assert dump_kinds(remote) == dump_kinds(serial)
    with NWBZarrIO(remote, mode="r") as io:
        np.testing.assert_array_equal(io.read().acquisition["sharded"].data[:], data)


def test_blocks_are_computed_on_workers(client, tmp_path) -> None:
    """The failing block raises only outside the parent process: the write fails, so it ran on a worker."""
    target = tmp_path / "failed.zarr"
    failing = iterator(sample_data(), FailingIterator, fail_row=64, parent_pid=os.getpid())
    with pytest.raises(ParallelWriteError) as info:
        write(target, failing, "compressed", scheduler=client)
    message = str(info.value)
    assert "/acquisition/ts/data" in message and "sensor unplugged at row 64" in message
    assert "in _get_data" in message
    meta = json.loads((target / "acquisition/ts/data/zarr.json").read_text())
    assert meta["attributes"][INCOMPLETE_ATTR] is True


def test_scheduler_must_be_a_client(tmp_path) -> None:
    with pytest.raises(TypeError, match="scheduler must be a dask.distributed Client, not str"):
        write(tmp_path / "x.zarr", iterator(sample_data()), "compressed", scheduler="processes")


@pytest.mark.parametrize("kind", list(KINDS))
def test_as_dask_reads_aligned_to_stored_chunks(client, tmp_path, kind) -> None:
    data = sample_data()
    write(tmp_path / "r.zarr", iterator(data), kind)
    with NWBZarrIO(tmp_path / "r.zarr", mode="r") as io:
        dataset = io.read().acquisition["ts"].data
        lazy = as_dask(dataset)
        assert lazy.chunksize == tuple(dataset.chunks) and lazy.dtype == data.dtype
        assert lazy.numblocks == tuple(-(-s // c) for s, c in zip(data.shape, dataset.chunks))
        np.testing.assert_array_equal(lazy.compute(scheduler="sync"), data)
        assert int(client.compute(lazy.sum(dtype="i8")).result()) == int(data.sum(dtype="i8"))
        np.testing.assert_array_equal(as_dask(dataset, chunks=(64, 70)).blocks[1].compute(), data[64:128])


def test_as_dask_reads_from_s3_on_the_cluster(client, s3) -> None:
    data = sample_data((128, 40))
    store = s3_store(s3, "read")
    write(store, iterator(data), "compressed", cache_spec=False)
    with NWBZarrIO(store, mode="r") as io:
        lazy = as_dask(io.read().acquisition["ts"].data)
        np.testing.assert_array_equal(client.compute(lazy).result(), data)


def test_as_dask_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="needs a dataset read by nwbzarr"):
        as_dask(np.zeros(3))


def test_a_store_that_is_not_multi_writer_safe_is_written_in_the_client_process(client, tmp_path) -> None:
    """A DBM store (one writing process) is never handed to the cluster's workers."""
    import dbm.dumb

    from nwbzarr.storage import DBMStore

    from .conftest import read_back

    data = sample_data((64, 20))
    store = DBMStore(tmp_path / "one-writer.dbm", open=dbm.dumb.open)
    with pytest.warns(UserWarning, match="DBMStore cannot be written by several processes"):
        write(store, iterator(data), scheduler=client)
    store.close()
    reader = DBMStore(tmp_path / "one-writer.dbm", open=dbm.dumb.open, read_only=True)
    np.testing.assert_array_equal(read_back(reader), data)
