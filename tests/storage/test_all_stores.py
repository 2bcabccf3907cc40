"""Behaviour every nwbzarr store shares: zarr's stateful machines, v2/v3/sharded arrays, bad keys,
threads, several processes, and a writer killed mid-write. MongoDB runs on mongomock (no server
can be installed here), so it is left out of the multi-process tests."""

from __future__ import annotations

import dbm.dumb
import multiprocessing as mp
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import icechunk
import numpy as np
import pytest
import zarr
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test
from tests.storage.test_mongodb import shared_mock_client
from zarr.core.buffer import cpu
from zarr.storage import MemoryStore
from zarr.testing.stateful import ZarrHierarchyStateMachine, ZarrStoreStateMachine

from nwbzarr.storage import (
    DBMStore,
    LMDBStore,
    LRUStoreCache,
    MappingStore,
    MongoDBStore,
    RedisStore,
    SQLiteStore,
    TempStore,
)
from nwbzarr.storage.icechunk import open_icechunk

STORES = ["sqlite", "lmdb", "dbm", "redis", "mongodb", "lru", "temp", "mapping"]
# Icechunk holds Zarr v3 hierarchies only (no free-form keys, no v2 documents): it runs the tests that
# store zarr-shaped keys, and every NWB test (tests/storage/test_stores_nwb.py).
ZARR_V3_STORES = [*STORES, "icechunk"]


def make_store(kind: str, tmp_path, redis_kwargs=None):
    """A fresh, empty, writable store of the given kind."""
    if kind == "sqlite":
        return SQLiteStore(tmp_path / "s.sqldb")
    if kind == "lmdb":
        return LMDBStore(tmp_path / "l.lmdb", map_size=2**28)
    if kind == "dbm":
        return DBMStore(tmp_path / "d.dbm", open=dbm.dumb.open)
    if kind == "redis":
        return RedisStore(**redis_kwargs)
    if kind == "mongodb":
        return MongoDBStore("alltests", f"c{time.monotonic_ns()}", client_factory=shared_mock_client)
    if kind == "lru":
        return LRUStoreCache(SQLiteStore(tmp_path / "cached.sqldb"), max_size=2**20)
    if kind == "temp":
        return TempStore(dir=tmp_path)
    if kind == "icechunk":
        return open_icechunk(icechunk.local_filesystem_storage(str(tmp_path / "repo.icechunk")), "w")
    return MappingStore({})


@pytest.fixture(params=STORES)
def any_store(request, tmp_path):
    kwargs = request.getfixturevalue("redis_kwargs") if request.param == "redis" else None
    return make_store(request.param, tmp_path, kwargs)


STATEFUL = settings(max_examples=12, stateful_step_count=12, deadline=None)
# zarr 3.1's hierarchy machine keeps its own model of the groups, and that model can go wrong: a CI run of
# 2026-12-01 failed in ZarrHierarchyStateMachine.delete_group_using_del with KeyError '0/10' (a group
# its model never recorded), for two unrelated stores at once, and passed in 16 local runs. Its examples
# are drawn the same way in every run, so that CI fails only on a change of ours.
HIERARCHY = settings(STATEFUL, derandomize=True)


@pytest.mark.parametrize("kind", [k for k in STORES if k != "temp"])
def test_store_state_machine(kind, tmp_path, request) -> None:
    """TempStore is a LocalStore: a file system cannot hold both keys 'a' and 'a/b', which this
    machine generates, so it runs the hierarchy machine (zarr-shaped keys) only."""
    kwargs = request.getfixturevalue("redis_kwargs") if kind == "redis" else None
    any_store = make_store(kind, tmp_path, kwargs)
    run_state_machine_as_test(lambda: ZarrStoreStateMachine(any_store), settings=STATEFUL)


def test_hierarchy_state_machine(any_store) -> None:
    """Not on Icechunk: this machine draws zero-length chunk grids, which Icechunk refuses (nwbzarr
    never writes one: an empty dataset gets chunks of 1)."""
    run_state_machine_as_test(lambda: ZarrHierarchyStateMachine(any_store), settings=HIERARCHY)


@pytest.mark.parametrize("shards", [None, (8, 8)])
def test_icechunk_arrays_v3_sharded(tmp_path, shards) -> None:
    """The v3 half of test_arrays_v2_v3_sharded on Icechunk, read back after the commit."""
    store = make_store("icechunk", tmp_path)
    data = np.arange(24 * 24, dtype="i4").reshape(24, 24)
    arr = zarr.create_array(store, name="g/a", shape=data.shape, chunks=(4, 4), dtype="i4", shards=shards)
    arr[:] = data
    store.commit_transaction()
    back = zarr.open_array(store.with_read_only(True), path="g/a", zarr_format=3)
    assert np.array_equal(back[:], data)
    assert np.array_equal(back[5:11, 3:20], data[5:11, 3:20])


@pytest.mark.parametrize("fmt,shards", [(2, None), (3, None), (3, (8, 8))])
def test_arrays_v2_v3_sharded(any_store, fmt, shards) -> None:
    data = np.arange(24 * 24, dtype="i4").reshape(24, 24)
    kw = {"zarr_format": fmt, "shards": shards} if shards else {"zarr_format": fmt}
    arr = zarr.create_array(any_store, name="g/a", shape=data.shape, chunks=(4, 4), dtype="i4", **kw)
    arr[:] = data
    back = zarr.open_array(any_store.with_read_only(True), path="g/a", zarr_format=fmt)
    assert np.array_equal(back[:], data)
    assert np.array_equal(back[5:11, 3:20], data[5:11, 3:20])
    group = zarr.open_group(any_store, zarr_format=fmt, mode="r")
    assert list(group.group_keys()) == ["g"]


@pytest.mark.parametrize("key", ["", "/a", "a/", "a//b", "a/../b", "./a", "a\x00b"])
def test_bad_keys_raise_clear_value_error(key, tmp_path) -> None:
    store = make_store("sqlite", tmp_path)
    with pytest.raises(ValueError, match="invalid store key"):
        store.set_sync(key, cpu.Buffer.from_bytes(b"x"))
    with pytest.raises(ValueError, match="invalid store key"):
        store.get_sync(key)


@pytest.mark.parametrize("key", ["ünïcode/ключ", "per%cent/under_score", "a" * 120 + "/" + "b" * 120])
def test_unusual_but_valid_keys_round_trip(any_store, key) -> None:
    zarr.core.sync.sync(any_store.set(key, cpu.Buffer.from_bytes(b"v")))
    assert zarr.core.sync.sync(any_store.get(key)).to_bytes() == b"v"
    assert zarr.core.sync.sync(any_store.exists(key))
    listed = zarr.core.sync.sync(_collect(any_store.list_prefix(key.split("/")[0])))
    assert key in listed


async def _collect(ait):
    return [x async for x in ait]


def test_read_only_refuses_writes_with_zarrs_error(any_store) -> None:
    zarr.core.sync.sync(any_store.set("k", cpu.Buffer.from_bytes(b"v")))
    ro = any_store.with_read_only(True)
    with pytest.raises(ValueError, match="read-only mode and does not support writing"):
        zarr.core.sync.sync(ro.set("k", cpu.Buffer.from_bytes(b"w")))
    assert zarr.core.sync.sync(ro.get("k")).to_bytes() == b"v"


def test_threads_write_and_read_concurrently(any_store) -> None:
    """Many threads writing disjoint keys through the blocking API, then all values read back."""

    def work(i: int) -> None:
        for j in range(20):
            any_store.set_sync(f"t{i}/c/{j}", cpu.Buffer.from_bytes(bytes([i, j]) * 100))
            assert any_store.get_sync(f"t{i}/c/{j}").to_bytes() == bytes([i, j]) * 100

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    keys = zarr.core.sync.sync(_collect(any_store.list()))
    assert len(keys) == 160


# ---------------------------------------------------------------------- several processes

PROCESS_STORES = ["sqlite", "lmdb", "redis"]


def _write_rows(store, start: int, stop: int) -> None:
    arr = zarr.open_array(store, path="x", mode="r+")
    for row in range(start, stop):
        arr[row] = np.full(50, row, dtype="i8")


def _process_store(kind, tmp_path, request):
    kwargs = request.getfixturevalue("redis_kwargs") if kind == "redis" else None
    return make_store(kind, tmp_path, kwargs)


@pytest.mark.parametrize("kind", PROCESS_STORES)
def test_processes_write_disjoint_chunks(kind, tmp_path, request) -> None:
    store = _process_store(kind, tmp_path, request)
    zarr.create_array(store, name="x", shape=(40, 50), chunks=(1, 50), dtype="i8", fill_value=-1)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_rows, args=(store, i * 10, i * 10 + 10)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    result = zarr.open_array(store.with_read_only(True), path="x")[:]
    assert np.array_equal(result, np.repeat(np.arange(40), 50).reshape(40, 50))


def _write_forever(store) -> None:
    i = 0
    while True:
        store.set_sync(f"victim/{i % 50}", cpu.Buffer.from_bytes(os.urandom(1 << 16)))
        i += 1


@pytest.mark.parametrize("kind", PROCESS_STORES + ["dbm"])
def test_killed_writer_leaves_other_values_intact(kind, tmp_path, request) -> None:
    store = _process_store(kind, tmp_path, request)
    keep = {f"keep/{i}": os.urandom(1000 + i) for i in range(30)}
    for k, v in keep.items():
        store.set_sync(k, cpu.Buffer.from_bytes(v))
    store.close()
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=_write_forever, args=(store,))
    proc.start()
    time.sleep(1.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    again = store.with_read_only(False)
    for k, v in keep.items():
        assert again.get_sync(k).to_bytes() == v
    listed = zarr.core.sync.sync(_collect(again.list_prefix("keep/")))
    assert sorted(listed) == sorted(keep)
    again.set_sync("after/kill", cpu.Buffer.from_bytes(b"ok"))
    assert again.get_sync("after/kill").to_bytes() == b"ok"


def test_memorystore_reference_unchanged() -> None:
    """The model the state machines compare against behaves as expected (guards the harness)."""
    m = MemoryStore({})
    zarr.core.sync.sync(m.set("a", cpu.Buffer.from_bytes(b"1")))
    assert zarr.core.sync.sync(_collect(m.list())) == ["a"]
