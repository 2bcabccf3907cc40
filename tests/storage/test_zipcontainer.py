"""ZipContainerStore: zarr's store contract, write-once containers, atomic rebuilds, kill-safe consolidate."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import random
import signal
import zipfile
from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis.stateful import run_state_machine_as_test
from tests.storage.test_h5container import (
    ARRAY_KINDS,
    STATEFUL,
    CountingLock,
    _NoPrefixClashStoreMachine,
    all_files,
    listed,
    reference_nchunks,
    round_trip_nwb,
    write_kind,
)
from zarr.abc.store import OffsetByteRequest, RangeByteRequest
from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.testing.stateful import ZarrHierarchyStateMachine
from zarr.testing.store import StoreTests

from nwbzarr.storage.zipcontainer import ZipContainerStore


class TestZipContainerStoreContract(StoreTests[ZipContainerStore, cpu.Buffer]):
    store_cls = ZipContainerStore
    buffer_cls = cpu.Buffer

    async def set(self, store: ZipContainerStore, key: str, value: cpu.Buffer) -> None:
        path = store.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value.to_bytes())

    async def get(self, store: ZipContainerStore, key: str) -> cpu.Buffer:
        return self.buffer_cls.from_bytes((store.root / key).read_bytes())

    @pytest.fixture
    def store_kwargs(self, tmp_path: Path) -> dict:
        (tmp_path / "store").mkdir(exist_ok=True)
        return {"root": str(tmp_path / "store")}

    def test_store_repr(self, store: ZipContainerStore) -> None:
        assert repr(store) == f"ZipContainerStore('zipcontainer://{store.root.as_posix()}', depth=3, write_direct=False)"

    def test_store_supports_writes(self, store: ZipContainerStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: ZipContainerStore) -> None:
        assert store.supports_listing


@pytest.mark.parametrize("write_direct", [True, False])
def test_zarr_hierarchy_state_machine(tmp_path: Path, write_direct: bool) -> None:
    store = ZipContainerStore(tmp_path / "s", write_direct=write_direct)
    run_state_machine_as_test(lambda: ZarrHierarchyStateMachine(store), settings=STATEFUL)


def test_zarr_store_state_machine(tmp_path: Path) -> None:
    store = ZipContainerStore(tmp_path / "s", write_direct=True)
    run_state_machine_as_test(lambda: _NoPrefixClashStoreMachine(store), settings=STATEFUL)


@pytest.mark.parametrize("kind", ["v3-1d", "v3-2d", "v3-3d-dotsep", "v3-4d-sharded", "v2-2d", "v2-3d-nested", "v2-4d"])
def test_write_loose_then_consolidate_into_zips(tmp_path: Path, kind: str) -> None:
    store = ZipContainerStore(tmp_path / "s")
    arr, data = write_kind(store, kind)
    keys = listed(store)
    store.consolidate(parallel=2)
    zips = [f for f in all_files(store.root) if f.endswith(".zip")]
    assert zips and all(f.startswith("grp.with.dots/arr/") for f in zips)
    assert listed(store) == keys
    reopened = zarr.open_array(ZipContainerStore(tmp_path / "s", read_only=True), path=arr.path)
    np.testing.assert_array_equal(reopened[...], data)
    assert reopened.nchunks_initialized == reference_nchunks(kind)
    for z in zips:
        with zipfile.ZipFile(store.root / z) as zf:
            assert zf.testzip() is None
            assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    assert store.verify().ok


@pytest.mark.parametrize("kind", sorted(ARRAY_KINDS))
def test_direct_writes_rebuild_containers(tmp_path: Path, kind: str) -> None:
    store = ZipContainerStore(tmp_path / "s", write_direct=True)
    arr, data = write_kind(store, kind)
    assert not [f for f in all_files(store.root) if "__nwbzarr_tmp" in f]
    np.testing.assert_array_equal(zarr.open_array(store, path=arr.path)[...], data)
    arr[...] = data + 1  # overwrite every chunk: containers rebuilt, not appended to
    np.testing.assert_array_equal(zarr.open_array(store, path=arr.path)[...], data + 1)
    for z in (f for f in all_files(store.root) if f.endswith(".zip")):
        with zipfile.ZipFile(store.root / z) as zf:
            names = zf.namelist()
            assert len(names) == len(set(names))


async def test_byte_ranges_inside_a_zip(tmp_path: Path) -> None:
    store = ZipContainerStore(tmp_path / "s", write_direct=True)
    zarr.create_array(store, name="a", shape=(3000,), chunks=(1000,), dtype="u1", compressors=None)
    payload = bytes(range(256)) * 4
    await store.set("a/c/1", cpu.Buffer.from_bytes(payload[:1000]))
    await store.set("a/c/2", cpu.Buffer.from_bytes(payload[24:1024]))
    assert [f for f in all_files(store.root) if f.endswith(".zip")] == ["a/c.zip"]
    proto = default_buffer_prototype()
    assert (await store.get("a/c/1", proto, RangeByteRequest(10, 20))).to_bytes() == payload[10:20]
    assert (await store.get("a/c/2", proto, OffsetByteRequest(990))).to_bytes() == payload[1014:1024]
    assert (await store.get("a/c/2", proto)).to_bytes() == payload[24:1024]
    assert await store.getsize("a/c/1") == 1000
    assert await store.get("a/c/0", proto) is None


def test_pickle_round_trip_keeps_reads_working(tmp_path: Path) -> None:
    store = ZipContainerStore(tmp_path / "s")
    arr, data = write_kind(store, "v3-3d")
    store.consolidate()
    clone = pickle.loads(pickle.dumps(store))
    assert clone == store
    np.testing.assert_array_equal(zarr.open_array(clone, path=arr.path)[...], data)


def test_corrupt_zip_read_raises(tmp_path: Path) -> None:
    store = ZipContainerStore(tmp_path / "s")
    _arr, _ = write_kind(store, "v3-2d", path="a")
    store.consolidate()
    (store.root / "a/c.zip").write_bytes(b"PK broken" * 20)
    with pytest.raises(zipfile.BadZipFile):
        zarr.open_array(store, path="a")[...]
    assert not store.verify().ok


def test_plain_key_cannot_overwrite_a_container(tmp_path: Path) -> None:
    store = ZipContainerStore(tmp_path / "s")
    write_kind(store, "v3-2d", path="a")
    store.consolidate()
    with pytest.raises(ValueError, match="container"):
        store.set_sync("a/c.zip", cpu.Buffer.from_bytes(b"x"))
    assert store.verify().ok and zarr.open_array(store, path="a").nchunks_initialized == 12


def test_pluggable_lock_is_used(tmp_path: Path) -> None:
    lock = CountingLock()
    store = ZipContainerStore(tmp_path / "s", write_direct=True, lock=lock)
    write_kind(store, "v3-2d", path="a")
    assert lock.acquired >= 12 and lock.acquired == lock.released


def _write_rows(root: str, worker: int, per_worker: int) -> None:
    arr = zarr.open_array(ZipContainerStore(root, write_direct=True), path="a")
    for i in range(worker * per_worker, (worker + 1) * per_worker):
        arr[i * 4 : (i + 1) * 4] = i + 1


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_eight_processes_lose_no_chunk_of_one_zip(tmp_path: Path, method: str) -> None:
    store = ZipContainerStore(tmp_path / "s", write_direct=True)
    zarr.create_array(store, name="a", shape=(256 * 4,), chunks=(4,), dtype="u2", fill_value=0)
    ctx = mp.get_context(method)
    procs = [ctx.Process(target=_write_rows, args=(str(store.root), w, 32)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 8
    assert [f for f in all_files(store.root) if f.endswith(".zip")] == ["a/c.zip"]
    arr = zarr.open_array(store, path="a")
    np.testing.assert_array_equal(arr[...], np.repeat(np.arange(1, 257, dtype="u2"), 4))
    assert arr.nchunks_initialized == 256


def _consolidate_and_die(root: str, kill_at: int) -> None:
    """Consolidate, SIGKILLing this process at the ``kill_at``-th rename, unlink or member copy."""
    count = [0]

    def hooked(fn):
        def wrapper(*args, **kwargs):
            count[0] += 1
            if count[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)

        return wrapper

    os.replace, os.unlink = hooked(os.replace), hooked(os.unlink)
    store = ZipContainerStore(root)
    real_build = store._c_build
    store._c_build = lambda path, items: real_build(path, ((m, hooked(src)) for m, src in items))
    store.consolidate()


def test_consolidate_killed_at_random_points_keeps_every_chunk(tmp_path: Path) -> None:
    rng = random.Random(11)
    for n, kill_at in enumerate(sorted(rng.sample(range(1, 90), 6))):
        root = tmp_path / f"s{n}"
        old = np.arange(6 * 6 * 6, dtype="i4").reshape(6, 6, 6)
        arr = zarr.create_array(ZipContainerStore(root), name="v", shape=old.shape, chunks=(1, 2, 3), dtype="i4")
        arr[...] = old
        ZipContainerStore(root).consolidate()  # old values in zips
        newest = old.copy()
        newest[1::2] = -newest[1::2]
        arr[1::2] = newest[1::2]  # newer values loose
        proc = mp.get_context("fork").Process(target=_consolidate_and_die, args=(str(root), kill_at))
        proc.start()
        proc.join(60)
        assert proc.exitcode in (0, -signal.SIGKILL)
        store = ZipContainerStore(root)
        np.testing.assert_array_equal(zarr.open_array(store, path="v")[...], newest)
        assert not [k for k in listed(store) if "__nwbzarr" in k or k.endswith(".zip")]
        store.consolidate()
        assert not [f for f in all_files(root) if "__nwbzarr_tmp" in f
                        or not (f.endswith((".zip", ".json", ".lock")) or f == "__nwbzarr.store")]
        assert store.verify().ok


@pytest.mark.parametrize("write_direct", [True, False])
def test_nwbzarrio_writes_and_reads_a_full_nwb_file(tmp_path: Path, write_direct: bool) -> None:
    store = ZipContainerStore(tmp_path / "f.nwb.zarr", write_direct=write_direct)
    round_trip_nwb(store)
    assert [f for f in all_files(store.root) if f.endswith(".zip")]


def test_shrinking_an_array_rebuilds_its_zip_a_few_times_not_once_per_chunk(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "s"
    arr = zarr.create_array(ZipContainerStore(root), name="a", shape=(80, 8), chunks=(5, 8), dtype="i4")
    data = np.arange(640, dtype="i4").reshape(80, 8)
    arr[...] = data
    ZipContainerStore(root).consolidate()
    import nwbzarr.storage.zipcontainer as zc

    rebuilds = []
    real = zc._write_zip  # every zip (re)build writes through it

    def counted(path, items):
        rebuilds.append(path)
        return real(path, items)

    monkeypatch.setattr(zc, "_write_zip", counted)
    zarr.open_array(ZipContainerStore(root), path="a", mode="r+").resize((10, 8))
    assert 1 <= len(rebuilds) < 14  # 14 chunks deleted
    reopened = zarr.open_array(ZipContainerStore(root), path="a")
    np.testing.assert_array_equal(reopened[...], data[:10])
    assert reopened.nchunks_initialized == 2
