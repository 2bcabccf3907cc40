"""H5ContainerStore: zarr's store contract, routing of every array kind, concurrency, kill-safe consolidate."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import random
import signal
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule, run_state_machine_as_test
from zarr.abc.store import RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.testing.stateful import ZarrHierarchyStateMachine, ZarrStoreStateMachine
from zarr.testing.store import StoreTests
from zarr.testing.strategies import keys as zarr_keys

from nwbzarr.storage.h5container import H5ContainerStore

DATA = Path(__file__).with_name("data")
sys.path.insert(0, str(DATA))
import make_cbi_h5_nested  # noqa: E402

STATEFUL = settings(
    max_examples=12,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# ------------------------------------------------------------------ helpers shared with the zip tests
def all_files(root: Path) -> list[str]:
    """Every file under ``root`` as a relative posix path."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def listed(store) -> list[str]:
    """Every key the store lists."""
    return sorted(zarr.core.sync.sync(_collect(store.list())))


async def _collect(it) -> list[str]:
    return [k async for k in it]


ARRAY_KINDS = {
    # name: (zarr_format, shape, chunks, extra create_array kwargs)
    "v3-1d": (3, (50,), (7,), {}),
    "v3-2d": (3, (20, 9), (6, 4), {}),
    "v3-3d": (3, (6, 5, 4), (2, 2, 3), {}),
    "v3-4d": (3, (4, 5, 3, 6), (2, 2, 2, 4), {}),
    "v3-3d-dotsep": (3, (6, 5, 4), (2, 2, 3), {"chunk_key_encoding": {"name": "default", "separator": "."}}),
    "v3-2d-v2keys": (3, (20, 9), (6, 4), {"chunk_key_encoding": {"name": "v2", "separator": "."}}),
    "v3-4d-sharded": (3, (8, 6, 4, 4), (2, 3, 2, 2), {"shards": (4, 3, 2, 4)}),
    "v2-1d": (2, (50,), (7,), {}),
    "v2-2d": (2, (20, 9), (6, 4), {}),
    "v2-3d-nested": (2, (6, 5, 4), (2, 2, 3), {"chunk_key_encoding": {"name": "v2", "separator": "/"}}),
    "v2-4d": (2, (4, 5, 3, 6), (2, 2, 2, 4), {}),
}


def write_kind(store, kind: str, path: str = "grp.with.dots/arr") -> tuple[zarr.Array, np.ndarray]:
    """Create an array of ``kind`` under a group whose name contains dots and fill it."""
    fmt, shape, chunks, extra = ARRAY_KINDS[kind]
    root = zarr.open_group(store, mode="a", zarr_format=fmt)
    arr = root.create_array(path, shape=shape, chunks=chunks, dtype="i4", **extra)
    data = np.arange(np.prod(shape), dtype="i4").reshape(shape) * 3 - 7
    arr[...] = data
    return arr, data


def expected_nchunks(arr: zarr.Array) -> int:
    """Stored chunk (shard) objects of a fully written array."""
    outer = arr.shards or arr.chunks
    return int(np.prod([-(-s // c) for s, c in zip(arr.shape, outer)]))


def reference_nchunks(kind: str) -> int:
    """``nchunks_initialized`` zarr reports for the same array on a MemoryStore."""
    arr, _ = write_kind(zarr.storage.MemoryStore(), kind)
    return arr.nchunks_initialized


# ------------------------------------------------------------------ zarr's store contract
class TestH5ContainerStoreContract(StoreTests[H5ContainerStore, cpu.Buffer]):
    store_cls = H5ContainerStore
    buffer_cls = cpu.Buffer

    async def set(self, store: H5ContainerStore, key: str, value: cpu.Buffer) -> None:
        path = store.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value.to_bytes())

    async def get(self, store: H5ContainerStore, key: str) -> cpu.Buffer:
        return self.buffer_cls.from_bytes((store.root / key).read_bytes())

    @pytest.fixture
    def store_kwargs(self, tmp_path: Path) -> dict:
        (tmp_path / "store").mkdir(exist_ok=True)  # read-only opens need an existing root
        return {"root": str(tmp_path / "store")}

    def test_store_repr(self, store: H5ContainerStore) -> None:
        assert repr(store) == f"H5ContainerStore('h5container://{store.root.as_posix()}', depth=3, write_direct=True)"

    def test_store_supports_writes(self, store: H5ContainerStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: H5ContainerStore) -> None:
        assert store.supports_listing


class _NoPrefixClashStoreMachine(ZarrStoreStateMachine):
    """zarr's store state machine minus keys that are path-prefixes of each other.

    A file system cannot hold both ``a`` and ``a/b`` (zarr skips this machine for LocalStore for that
    reason); every other rule and invariant is zarr's own.
    """

    @rule(key=zarr_keys(), data=st.binary(min_size=0, max_size=100))
    def set(self, key: str, data: bytes) -> None:
        for other in self.model:
            assume(not other.startswith(key + "/") and not key.startswith(other + "/"))
        super().set(key, data)


@pytest.mark.parametrize("write_direct", [True, False])
def test_zarr_hierarchy_state_machine(tmp_path: Path, write_direct: bool) -> None:
    store = H5ContainerStore(tmp_path / "s", write_direct=write_direct)
    run_state_machine_as_test(lambda: ZarrHierarchyStateMachine(store), settings=STATEFUL)


def test_zarr_store_state_machine(tmp_path: Path) -> None:
    store = H5ContainerStore(tmp_path / "s")
    run_state_machine_as_test(lambda: _NoPrefixClashStoreMachine(store), settings=STATEFUL)


# ------------------------------------------------------------------ routing of every array kind
@pytest.mark.parametrize("kind", sorted(ARRAY_KINDS))
def test_array_round_trip_in_containers(tmp_path: Path, kind: str) -> None:
    store = H5ContainerStore(tmp_path / "s")
    arr, data = write_kind(store, kind)
    reopened = zarr.open_array(H5ContainerStore(tmp_path / "s", read_only=True), path=arr.path)
    np.testing.assert_array_equal(reopened[...], data)
    assert reopened.nchunks_initialized == reference_nchunks(kind)
    files = all_files(store.root)
    containers = [f for f in files if f.endswith(".h5")]
    assert containers and all(f.startswith("grp.with.dots/arr/") for f in containers)
    assert not [f for f in files if f.startswith("grp.with.dots/arr/") and not f.endswith((".h5", "json", ".zarray", ".zattrs"))]
    keys = listed(store)
    assert not [k for k in keys if k.endswith(".h5") or "__nwbzarr" in k]
    assert len([k for k in keys if k.startswith("grp.with.dots/arr/") and not k.rsplit("/")[-1].startswith((".", "zarr"))]) == expected_nchunks(arr)


@pytest.mark.parametrize("kind", ["v3-2d", "v3-3d", "v2-4d", "v3-4d-sharded"])
def test_write_loose_then_consolidate(tmp_path: Path, kind: str) -> None:
    loose = H5ContainerStore(tmp_path / "s", write_direct=False)
    arr, data = write_kind(loose, kind)
    before = all_files(loose.root)
    assert not [f for f in before if f.endswith(".h5")]
    keys_before = listed(loose)
    report = loose.consolidate(parallel=2)
    assert report.chunks == expected_nchunks(arr)
    after = all_files(loose.root)
    assert len(after) < len(before)
    assert listed(loose) == keys_before
    np.testing.assert_array_equal(zarr.open_array(loose, path=arr.path)[...], data)
    assert loose.verify().ok


def test_small_arrays_keep_their_container_inside_their_directory(tmp_path: Path) -> None:
    store = H5ContainerStore(tmp_path / "s")
    for ndim in (1, 2):
        arr = zarr.create_array(store, name=f"g/a{ndim}", shape=(4,) * ndim, chunks=(2,) * ndim, dtype="u1")
        arr[...] = 1
    assert [f for f in all_files(store.root) if f.endswith(".h5")] == ["g/a1/c.h5", "g/a2/c.h5"]
    with h5py.File(store.root / "g/a2/c.h5", "r") as f:
        assert sorted(f) == ["0.0", "0.1", "1.0", "1.1"]
        assert f["0.1"].dtype == np.uint8 and f["0.1"].ndim == 1 and f["0.1"].compression is None


def test_depth_sets_how_many_indices_share_a_container(tmp_path: Path) -> None:
    store = H5ContainerStore(tmp_path / "s", depth=2)
    arr = zarr.create_array(store, name="a", shape=(4, 4, 4), chunks=(2, 2, 2), dtype="u1")
    arr[...] = 5
    containers = [f for f in all_files(store.root) if f.endswith(".h5")]
    assert containers == ["a/c/0/0.h5", "a/c/0/1.h5", "a/c/1/0.h5", "a/c/1/1.h5"]
    np.testing.assert_array_equal(zarr.open_array(store, path="a")[...], 5)


def test_plain_directory_store_is_readable_and_write_direct_false_is_one(tmp_path: Path) -> None:
    local = zarr.storage.LocalStore(tmp_path / "plain")
    arr, data = write_kind(local, "v3-3d")
    files_before = all_files(tmp_path / "plain")
    store = H5ContainerStore(tmp_path / "plain", write_direct=False)
    np.testing.assert_array_equal(zarr.open_array(store, path=arr.path)[...], data)
    zarr.open_array(store, path=arr.path)[0, 0, 0] = 99
    # still one file per chunk and no container; only hidden files are new (lock files, the store's kind)
    new_files = set(all_files(tmp_path / "plain")) - set(files_before)
    assert new_files and all(f.startswith("__nwbzarr.locks/") or f == "__nwbzarr.store" for f in new_files)
    assert set(files_before) <= set(all_files(tmp_path / "plain"))
    assert not [k for k in listed(store) if "__nwbzarr" in k]
    assert zarr.open_array(local, path=arr.path)[0, 0, 0] == 99


def test_direct_write_supersedes_a_loose_copy(tmp_path: Path) -> None:
    arr, data = write_kind(H5ContainerStore(tmp_path / "s", write_direct=False), "v3-2d")
    direct = H5ContainerStore(tmp_path / "s")
    zarr.open_array(direct, path=arr.path)[...] = data + 1
    assert not [f for f in all_files(direct.root) if f.split("/")[-1].isdigit()]
    np.testing.assert_array_equal(zarr.open_array(direct, path=arr.path)[...], data + 1)


async def test_byte_ranges_inside_a_container(tmp_path: Path) -> None:
    store = H5ContainerStore(tmp_path / "s")
    zarr.create_array(store, name="a", shape=(2000,), chunks=(1000,), dtype="u1", compressors=None)
    payload = bytes(range(256)) * 4
    await store.set("a/c/0", cpu.Buffer.from_bytes(payload[:1000]))
    assert (store.root / "a/c.h5").is_file() and not (store.root / "a/c/0").exists()
    proto = default_buffer_prototype()
    assert (await store.get("a/c/0", proto, RangeByteRequest(10, 20))).to_bytes() == payload[10:20]
    assert (await store.get("a/c/0", proto, SuffixByteRequest(5))).to_bytes() == payload[995:1000]
    assert await store.getsize("a/c/0") == 1000
    assert await store.get("a/c/1", proto) is None
    assert await store.exists("a/c/0") and not await store.exists("a/c/1")


def test_a_single_chunk_array_keeps_its_chunk_as_a_plain_file(tmp_path: Path) -> None:
    """A container would save no file for a one-chunk array and cost an HDF5 file: write_direct leaves
    it loose; consolidate() still folds it in."""
    store = H5ContainerStore(tmp_path / "s")
    arr = zarr.create_array(store, name="one", shape=(10, 3), chunks=(10, 3), dtype="i4")
    arr[...] = 7
    assert [f for f in all_files(store.root) if f.startswith("one/")] == ["one/c/0/0", "one/zarr.json"]
    store.consolidate()
    assert [f for f in all_files(store.root) if f.startswith("one/")] == ["one/c.h5", "one/zarr.json"]
    assert (zarr.open_array(store, path="one")[...] == 7).all()


def test_pickle_round_trip_keeps_reads_and_writes_working(tmp_path: Path) -> None:
    store = H5ContainerStore(tmp_path / "s", depth=2)
    arr, data = write_kind(store, "v3-3d")
    clone = pickle.loads(pickle.dumps(store))
    assert clone == store and clone.depth == 2
    np.testing.assert_array_equal(zarr.open_array(clone, path=arr.path)[...], data)
    zarr.open_array(clone, path=arr.path)[...] = data * 2
    np.testing.assert_array_equal(zarr.open_array(store, path=arr.path)[...], data * 2)


def test_equality_is_by_configuration(tmp_path: Path) -> None:
    assert H5ContainerStore(tmp_path) == H5ContainerStore(str(tmp_path))
    assert H5ContainerStore(tmp_path) != H5ContainerStore(tmp_path, depth=4)
    assert H5ContainerStore(tmp_path) != H5ContainerStore(tmp_path, write_direct=False)
    assert H5ContainerStore(tmp_path) != zarr.storage.LocalStore(tmp_path)


# ------------------------------------------------------------------ errors
def test_corrupt_container_read_raises_instead_of_reporting_missing(tmp_path: Path) -> None:
    store = H5ContainerStore(tmp_path / "s")
    arr, _ = write_kind(store, "v3-2d")
    (store.root / arr.path / "c.h5").write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(OSError):
        zarr.open_array(store, path=arr.path)[...]
    assert not store.verify().ok


def test_failed_write_raises_and_keeps_existing_data(tmp_path: Path) -> None:
    store = H5ContainerStore(tmp_path / "s", depth=2)
    arr = zarr.create_array(store, name="a", shape=(4, 4, 4), chunks=(2, 2, 2), dtype="u1")
    arr[:2] = 1
    (store.root / "a/c/1/1.h5").mkdir(parents=True)  # a directory where a container must go
    with pytest.raises(OSError):
        arr[2:] = 2
    np.testing.assert_array_equal(arr[:2], 1)


def test_bad_arguments_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="depth"):
        H5ContainerStore(tmp_path, depth=1)
    with pytest.raises(ValueError, match="lock"):
        H5ContainerStore(tmp_path, lock="flock")
    with pytest.raises(TypeError, match="acquire"):
        H5ContainerStore(tmp_path, lock=42)
    store = H5ContainerStore(tmp_path / "s")
    write_kind(store, "v3-2d", path="a")
    buf = cpu.Buffer.from_bytes(b"x")
    with pytest.raises(ValueError, match="container"):
        store.set_sync("a/c.h5", buf)
    for reserved in ("a/__nwbzarr.lock", "__nwbzarr.locks/7.lock", "a/__nwbzarr.locks/7.lock"):
        with pytest.raises(ValueError, match="reserved"):
            store.set_sync(reserved, buf)
    with pytest.raises(ValueError, match="invalid store key"):
        store.set_sync("a/../../escape", buf)
    assert zarr.open_array(store, path="a").nchunks_initialized == 12


def test_read_only_store_refuses_maintenance(tmp_path: Path) -> None:
    write_kind(H5ContainerStore(tmp_path / "s"), "v3-2d")
    ro = H5ContainerStore(tmp_path / "s", read_only=True)
    with pytest.raises(ValueError, match="read-only"):
        ro.consolidate()
    with pytest.raises(ValueError, match="read-only"):
        ro.repack()
    assert ro.verify().ok


# ------------------------------------------------------------------ maintenance
def test_repack_shrinks_after_overwrites_and_deletes(tmp_path: Path) -> None:
    store = H5ContainerStore(tmp_path / "s")
    arr = zarr.create_array(store, name="a", shape=(64, 256), chunks=(16, 256), dtype="f8", compressors=None)
    rng = np.random.default_rng(0)
    arr[...] = rng.random((64, 256))
    arr2 = zarr.open_array(store, path="a")
    for _ in range(3):
        store.set_sync("a/c/0/0", cpu.Buffer.from_bytes(rng.bytes(50_000)))
    store.delete_sync("a/c/1/0")
    size_before = (store.root / "a/c.h5").stat().st_size
    report = store.repack()
    assert report.containers == 1
    assert (store.root / "a/c.h5").stat().st_size < size_before
    assert store.get_sync("a/c/0/0").to_bytes() == store.get_sync("a/c/0/0").to_bytes()
    assert arr2.nchunks_initialized == 3
    assert store.verify().problems == ["a/c/0/0: chunk does not decode: " + store.verify().problems[0].split(": ", 2)[2]]


def test_verify_reports_undecodable_chunks(tmp_path: Path) -> None:
    store = H5ContainerStore(tmp_path / "s")
    write_kind(store, "v3-2d", path="a")
    assert store.verify().ok and store.verify().chunks == 12
    with h5py.File(store.root / "a/c.h5", "a") as f:
        del f["1.1"]
        f.create_dataset("1.1", data=np.frombuffer(b"garbage!", np.uint8))
    report = store.verify()
    assert len(report.problems) == 1 and report.problems[0].startswith("a/c/1/1: chunk does not decode")


def test_stale_temporary_files_are_hidden_and_cleaned(tmp_path: Path) -> None:
    store = H5ContainerStore(tmp_path / "s", write_direct=False)
    _arr, data = write_kind(store, "v3-2d", path="a")
    stale = store.root / "a/__nwbzarr_tmp.c.h5.deadbeef"
    stale.write_bytes(b"half-built container")
    assert "a/__nwbzarr_tmp.c.h5.deadbeef" not in listed(store)
    store.consolidate()
    assert not stale.exists()
    np.testing.assert_array_equal(zarr.open_array(store, path="a")[...], data)


def test_reads_cbi_h5_nested_store_containers(tmp_path: Path) -> None:
    fixture = DATA / "cbi_h5_nested"
    store = H5ContainerStore(fixture, read_only=True)
    for name in make_cbi_h5_nested.ARRAYS:
        arr = zarr.open_array(store, path=name, mode="r")
        np.testing.assert_array_equal(arr[...], make_cbi_h5_nested.expected(name))
        assert arr.nchunks_initialized == expected_nchunks(arr)
    assert store.verify().ok
    assert not [k for k in listed(store) if k.endswith(".h5")]


def test_cbi_containers_can_be_updated_and_repacked(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(DATA / "cbi_h5_nested", tmp_path / "cbi")
    store = H5ContainerStore(tmp_path / "cbi")
    store.consolidate()  # folds the loose chunk into CBI's container
    arr = zarr.open_array(store, path="vol/4d")
    expected = make_cbi_h5_nested.expected("vol/4d")
    expected[0] += 1
    arr[0] = expected[0]
    store.repack()
    np.testing.assert_array_equal(zarr.open_array(store, path="vol/4d")[...], expected)
    assert store.verify().ok


# ------------------------------------------------------------------ locks
class CountingLock:
    def __init__(self, grant: bool = True) -> None:
        self.grant, self.acquired, self.released = grant, 0, 0

    def acquire(self) -> bool:
        self.acquired += 1
        return self.grant

    def release(self) -> None:
        self.released += 1


def test_pluggable_lock_object_guards_every_container_access(tmp_path: Path) -> None:
    lock = CountingLock()
    store = H5ContainerStore(tmp_path / "s", lock=lock)
    arr, data = write_kind(store, "v3-2d", path="a")
    assert lock.acquired >= 12 and lock.acquired == lock.released
    np.testing.assert_array_equal(arr[...], data)
    assert not (store.root / "__nwbzarr.locks").exists()


def test_lock_that_cannot_be_acquired_fails_the_write(tmp_path: Path) -> None:
    store = H5ContainerStore(tmp_path / "s", lock=CountingLock(grant=False))
    arr = zarr.create_array(store, name="a", shape=(4,), chunks=(2,), dtype="u1")
    with pytest.raises(TimeoutError):
        arr[...] = 1
    assert not (store.root / "a/c.h5").exists()


def test_distributed_lock_without_a_client_fails_loudly(tmp_path: Path) -> None:
    from distributed import Lock

    store = H5ContainerStore(tmp_path / "s", lock=Lock)
    arr = zarr.create_array(store, name="a", shape=(4,), chunks=(2,), dtype="u1")
    with pytest.raises((ValueError, RuntimeError), match="Client"):
        arr[...] = 1


def test_distributed_lock_factory_with_a_cluster(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster, Lock

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster, Client(cluster):
        store = H5ContainerStore(tmp_path / "s", lock=Lock)
        arr, data = write_kind(store, "v3-2d", path="a")
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(arr))[...], data)


def _write_rows(root: str, worker: int, per_worker: int) -> None:
    arr = zarr.open_array(H5ContainerStore(root), path="a")
    for i in range(worker * per_worker, (worker + 1) * per_worker):
        arr[i * 4 : (i + 1) * 4] = i + 1


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_eight_processes_lose_no_chunk_of_one_container(tmp_path: Path, method: str) -> None:
    store = H5ContainerStore(tmp_path / "s")
    zarr.create_array(store, name="a", shape=(256 * 4,), chunks=(4,), dtype="u2", fill_value=0)
    ctx = mp.get_context(method)
    procs = [ctx.Process(target=_write_rows, args=(str(store.root), w, 32)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 8
    assert [f for f in all_files(store.root) if f.endswith(".h5")] == ["a/c.h5"]
    arr = zarr.open_array(store, path="a")
    np.testing.assert_array_equal(arr[...], np.repeat(np.arange(1, 257, dtype="u2"), 4))
    assert arr.nchunks_initialized == 256


# ------------------------------------------------------------------ kill-safe consolidate
def _consolidate_and_die(root: str, kill_at: int) -> None:
    """Consolidate, SIGKILLing this process at the ``kill_at``-th file operation or chunk copy."""
    import nwbzarr.storage._fewfiles as ff

    count = [0]

    def tick() -> None:
        count[0] += 1
        if count[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def hooked(fn):
        def wrapper(*args, **kwargs):
            tick()
            out = fn(*args, **kwargs)
            tick()
            return out

        return wrapper

    os.replace, os.unlink, ff.fsync_dir = hooked(os.replace), hooked(os.unlink), hooked(ff.fsync_dir)
    store = H5ContainerStore(root, write_direct=False)
    real_build = store._c_build
    store._c_build = lambda path, items: real_build(path, ((m, hooked(src)) for m, src in items))
    store.consolidate()


def _kill_after(root: str, delay: float) -> int | None:
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=_consolidate_and_die, args=(root, 10**9))
    proc.start()
    proc.join(delay)
    if proc.is_alive():
        os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    return proc.exitcode


def _prepare_old_and_new(root: Path) -> np.ndarray:
    old = np.arange(8 * 6 * 6, dtype="i4").reshape(8, 6, 6)
    arr = zarr.create_array(H5ContainerStore(root), name="v", shape=old.shape, chunks=(1, 2, 3), dtype="i4")
    arr[...] = old  # in containers
    new = old.copy()
    new[::2] = -new[::2]
    loose = zarr.open_array(H5ContainerStore(root, write_direct=False), path="v")
    loose[::2] = new[::2]  # newer values as loose chunk files
    return new


def test_consolidate_killed_at_random_points_keeps_every_chunk(tmp_path: Path) -> None:
    rng = random.Random(5)
    points = sorted(rng.sample(range(1, 120), 7)) + [None]
    for n, kill_at in enumerate(points):
        root = tmp_path / f"s{n}"
        newest = _prepare_old_and_new(root)
        if kill_at is None:
            _kill_after(str(root), rng.uniform(0.05, 0.4))
        else:
            proc = mp.get_context("fork").Process(target=_consolidate_and_die, args=(str(root), kill_at))
            proc.start()
            proc.join(60)
            assert proc.exitcode in (0, -signal.SIGKILL)
        store = H5ContainerStore(root, write_direct=False)
        np.testing.assert_array_equal(zarr.open_array(store, path="v")[...], newest)
        assert not [k for k in listed(store) if "__nwbzarr" in k or k.endswith(".h5")]
        store.consolidate()
        assert not [f for f in all_files(root) if "__nwbzarr_tmp" in f]
        assert not [f for f in all_files(root) if f.startswith("v/c/") and not f.endswith(".h5")]
        np.testing.assert_array_equal(zarr.open_array(store, path="v")[...], newest)
        assert store.verify().ok


# ------------------------------------------------------------------ a full NWB file
def mock_nwbfile():
    """A small NWB file from pynwb's mocks: a TimeSeries and an ElectricalSeries with its electrodes."""
    from pynwb.testing.mock.base import mock_TimeSeries
    from pynwb.testing.mock.ecephys import mock_ElectricalSeries
    from pynwb.testing.mock.file import mock_NWBFile

    from nwbzarr import ZarrDataIO

    nwb = mock_NWBFile()
    chunked = ZarrDataIO(np.arange(200, dtype="f4").reshape(100, 2), chunks=(25, 2))  # 4 chunks: containerised
    nwb.add_acquisition(mock_TimeSeries(name="ts", data=chunked, nwbfile=None))
    mock_ElectricalSeries(name="es", nwbfile=nwb, data=np.arange(300, dtype="i2").reshape(100, 3) % 17)
    return nwb


def round_trip_nwb(store) -> None:
    """Write the mock NWB file onto ``store``, read it back and compare every container."""
    from _helpers import assert_containers_equal
    from nwbzarr import NWBZarrIO

    original = mock_nwbfile()
    with NWBZarrIO(store, mode="w") as io:
        io.write(original)
    if not store.write_direct:
        store.consolidate()
    with NWBZarrIO(store.with_read_only(True), mode="r") as io:
        back = io.read()
        assert_containers_equal(original, back)
        np.testing.assert_array_equal(back.acquisition["es"].data[:], original.acquisition["es"].data)
    assert store.verify().ok


@pytest.mark.parametrize("write_direct", [True, False])
def test_nwbzarrio_writes_and_reads_a_full_nwb_file(tmp_path: Path, write_direct: bool) -> None:
    store = H5ContainerStore(tmp_path / "f.nwb.zarr", write_direct=write_direct)
    round_trip_nwb(store)
    assert [f for f in all_files(store.root) if f.endswith(".h5")]


# ------------------------------------------------------------------ write sessions: never damage older data
def _container_files(root: Path) -> list[str]:
    return [f for f in all_files(root) if f.endswith(".h5")]


def test_later_session_writes_loose_chunks_and_never_touches_older_containers(tmp_path: Path) -> None:
    """A container written by an earlier store stays byte-identical while a new store updates and
    deletes its chunks (loose files, atomic rebuilds); consolidate() then folds the loose chunks in."""
    root = tmp_path / "s"
    first = H5ContainerStore(root)
    arr = zarr.create_array(first, name="a", shape=(40, 8), chunks=(5, 8), dtype="i4", fill_value=0)
    arr[...] = 1
    (container,) = _container_files(root)
    before = (root / container).read_bytes()

    later = H5ContainerStore(root)
    again = zarr.open_array(later, path="a", mode="r+")
    again[0:10] = 2
    assert (root / container).read_bytes() == before  # old container untouched
    assert {f for f in all_files(root) if f.startswith("a/c")} == {container, "a/c/0/0", "a/c/1/0"}
    expected = np.ones((40, 8), dtype="i4")
    expected[0:10] = 2
    np.testing.assert_array_equal(zarr.open_array(later, path="a")[...], expected)
    assert again.nchunks_initialized == 8
    assert listed(later).count("a/c/0/0") == 1

    later.delete_sync("a/c/7/0")  # a delete rebuilds the older container atomically
    expected[35:40] = 0
    np.testing.assert_array_equal(zarr.open_array(later, path="a")[...], expected)

    later.consolidate()
    assert {f for f in all_files(root) if f.startswith("a/c")} == {container}
    np.testing.assert_array_equal(zarr.open_array(H5ContainerStore(root), path="a")[...], expected)


def test_a_session_and_its_pickled_copies_write_in_place(tmp_path: Path) -> None:
    store = H5ContainerStore(tmp_path / "s")
    arr = zarr.create_array(store, name="a", shape=(20,), chunks=(5,), dtype="i4")
    arr[0:5] = 1
    copy = pickle.loads(pickle.dumps(store))
    zarr.open_array(copy, path="a", mode="r+")[5:20] = 2
    assert [f for f in all_files(tmp_path / "s") if f.startswith("a/c")] == ["a/c.h5"]


def _write_forever_into(root: str) -> None:
    store = H5ContainerStore(root)
    arr = zarr.open_array(store, path="a", mode="r+")
    i = 0
    while True:
        arr[(i % 8) * 5:(i % 8) * 5 + 5] = i
        i += 1


def test_writer_killed_in_a_later_session_leaves_older_chunks_intact(tmp_path: Path) -> None:
    root = tmp_path / "s"
    arr = zarr.create_array(H5ContainerStore(root), name="a", shape=(40, 8), chunks=(5, 8), dtype="i4")
    data = np.arange(320, dtype="i4").reshape(40, 8)
    arr[...] = data
    proc = mp.get_context("fork").Process(target=_write_forever_into, args=(str(root),))
    proc.start()
    import time

    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    store = H5ContainerStore(root)
    assert store.verify().ok
    got = zarr.open_array(store, path="a")[...]
    for block in range(8):
        rows = slice(block * 5, block * 5 + 5)
        # each chunk holds its original values or one whole later write, never garbage
        assert (got[rows] == data[rows]).all() or len(np.unique(got[rows])) == 1


def test_later_session_checks_an_older_container_once(tmp_path: Path, monkeypatch) -> None:
    """Whether a container belongs to this session is read once, not per chunk written."""
    import nwbzarr.storage.h5container as h5c

    root = tmp_path / "s"
    arr = zarr.create_array(H5ContainerStore(root), name="a", shape=(40, 8), chunks=(5, 8), dtype="i4")
    arr[...] = 1
    chunks = {i: arr.store.get_sync(f"a/c/{i}/0") for i in range(8)}
    opened = []
    real_open = h5c._open
    monkeypatch.setattr(h5c, "_open", lambda path, mode: opened.append(mode) or real_open(path, mode))
    later = H5ContainerStore(root)
    for i in range(8):
        later.set_sync(f"a/c/{i}/0", chunks[i])
    assert opened.count("r") == 1


def _older_container_array(root: Path, rows: int = 80) -> tuple[np.ndarray, bytes]:
    arr = zarr.create_array(H5ContainerStore(root), name="a", shape=(rows, 8), chunks=(5, 8), dtype="i4")
    data = np.arange(rows * 8, dtype="i4").reshape(rows, 8)
    arr[...] = data
    (container,) = _container_files(root)
    return data, (root / container).read_bytes()


def test_concurrent_deletes_from_an_older_container_share_rebuilds(tmp_path: Path, monkeypatch) -> None:
    """Shrinking an array deletes its chunks concurrently (zarr runs up to 10 at once); deletes that
    arrive while a rebuild runs are applied together, so 14 deletes cost a few rebuilds (14 before)."""
    root = tmp_path / "s"
    data, _ = _older_container_array(root)
    rebuilds = []
    real = H5ContainerStore._replace_container

    def slow_first_rebuild(self, cpath, items):
        rebuilds.append(cpath)
        if len(rebuilds) == 1:
            import time

            time.sleep(0.3)  # the other deletes queue up meanwhile
        return real(self, cpath, items)

    monkeypatch.setattr(H5ContainerStore, "_replace_container", slow_first_rebuild)
    later = H5ContainerStore(root)
    zarr.open_array(later, path="a", mode="r+").resize((10, 8))
    assert 2 <= len(rebuilds) <= 5
    assert len(later._deletes) == 0
    reopened = zarr.open_array(H5ContainerStore(root), path="a")
    np.testing.assert_array_equal(reopened[...], data[:10])
    assert reopened.nchunks_initialized == 2
    assert [k for k in listed(later) if "/c/" in k] == ["a/c/0/0", "a/c/1/0"]
    assert later.verify().ok


def test_a_failed_batch_delete_fails_every_delete_in_it_and_keeps_the_container(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    root = tmp_path / "s"
    data, before = _older_container_array(root, rows=40)

    def failing_rebuild(self, cpath, items):
        raise OSError("disk full")

    monkeypatch.setattr(H5ContainerStore, "_replace_container", failing_rebuild)
    later = H5ContainerStore(root)

    async def delete_all() -> list:
        import asyncio

        return await asyncio.gather(*(later.delete(f"a/c/{i}/0") for i in range(2, 8)), return_exceptions=True)

    outcomes = zarr.core.sync.sync(delete_all())
    assert all(isinstance(o, OSError) and "disk full" in str(o) for o in outcomes)
    assert (root / _container_files(root)[0]).read_bytes() == before
    monkeypatch.undo()
    np.testing.assert_array_equal(zarr.open_array(H5ContainerStore(root), path="a")[...], data)


def test_a_delete_whose_lock_fails_raises_and_leaves_no_delete_queued(tmp_path: Path) -> None:
    lock = CountingLock()
    store = H5ContainerStore(tmp_path / "s", lock=lock)
    arr = zarr.create_array(store, name="a", shape=(8,), chunks=(2,), dtype="u1")
    arr[...] = 7
    lock.grant = False
    with pytest.raises(TimeoutError):
        store.delete_sync("a/c/3")
    assert len(store._deletes) == 0
    lock.grant = True
    np.testing.assert_array_equal(arr[...], 7)  # the failed delete changed nothing
    store.delete_sync("a/c/3")  # a new delete leads again: nothing was left half-led
    np.testing.assert_array_equal(zarr.open_array(store, path="a")[...], [7, 7, 7, 7, 7, 7, 0, 0])


# ------------------------------------------------------------------ routing cache
def test_routing_takes_an_array_layout_from_the_document_just_written(tmp_path: Path, monkeypatch) -> None:
    """Writing an array's zarr.json fills the routing cache from those bytes: routing its chunks reads no
    metadata file again."""
    from nwbzarr.storage import _routing

    store = H5ContainerStore(tmp_path / "s")
    arr = zarr.create_array(store, name="g/a", shape=(20, 4), chunks=(5, 4), dtype="i2")
    reads = []
    real = _routing.layout_from_metadata
    monkeypatch.setattr(_routing, "layout_from_metadata", lambda *a: reads.append(a[:2]) or real(*a))
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"metadata re-read: {self}"))
    route = store._route("g/a/c/3/0")
    assert route is not None and route.layout.ndim == 2 and reads == []
    monkeypatch.undo()
    arr[...] = 3
    np.testing.assert_array_equal(zarr.open_array(H5ContainerStore(tmp_path / "s"), path="g/a")[...], 3)


def test_a_v2_document_beside_zarr_json_does_not_decide_the_routing(tmp_path: Path) -> None:
    store = H5ContainerStore(tmp_path / "s")
    zarr.create_array(store, name="a", shape=(20, 4), chunks=(5, 4), dtype="i2")
    # a stray v2 document in the same directory: zarr.json is read first, so it still decides
    store.set_sync("a/.zarray", cpu.Buffer.from_bytes(b'{"zarr_format": 2, "shape": [9], "chunks": [3],'
                                                    b' "dtype": "<i2", "dimension_separator": "."}'))
    route = store._route("a/c/3/0")
    assert route is not None and route.layout.ndim == 2


def test_reading_a_changed_document_refreshes_the_routing(tmp_path: Path) -> None:
    """Another writer replaced an array by one of other rank: reading its metadata updates the routes."""
    store = H5ContainerStore(tmp_path / "s")
    zarr.create_array(store, name="a", shape=(20, 4), chunks=(5, 4), dtype="i2")
    assert store._route("a/c/3/0").layout.ndim == 2
    zarr.create_array(H5ContainerStore(tmp_path / "s"), name="a", shape=(20,), chunks=(5,), dtype="i2",
                      overwrite=True)
    arr = zarr.open_array(store, path="a", mode="r+")  # reads a/zarr.json through this store
    assert store._route("a/c/3").layout.ndim == 1
    arr[...] = 5
    np.testing.assert_array_equal(zarr.open_array(H5ContainerStore(tmp_path / "s"), path="a")[...], 5)


def test_a_loose_chunk_is_read_without_routing(tmp_path: Path, monkeypatch) -> None:
    """A plain file at the key's path is the newest copy: reading it needs no array metadata."""
    from nwbzarr.storage._routing import Router

    store = H5ContainerStore(tmp_path / "s")
    arr = zarr.create_array(store, name="one", shape=(4,), chunks=(4,), dtype="<i4", compressors=None)
    arr[...] = 9
    reader = H5ContainerStore(tmp_path / "s", read_only=True)
    monkeypatch.setattr(Router, "route", lambda self, key: pytest.fail(f"routed {key}"))
    assert np.frombuffer(reader.blocking_read("one/c/0"), dtype="i4").tolist() == [9, 9, 9, 9]
    with pytest.raises(ValueError):
        reader.blocking_read("../escape")
