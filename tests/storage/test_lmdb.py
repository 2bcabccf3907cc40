"""LMDBStore against zarr's StoreTests plus LMDB-specific behaviour."""

from __future__ import annotations

import pytest
from zarr.core.buffer import cpu
from zarr.testing.store import StoreTests

from nwbzarr.storage import LMDBStore
from nwbzarr.storage.lmdb import _ENVS


def _raw_env(store: LMDBStore):
    """The process's LMDB environment for the store's path, bypassing store methods."""
    return _ENVS.acquire(store.path, store.with_read_only(False)._open_env)


class TestLMDBStore(StoreTests[LMDBStore, cpu.Buffer]):
    store_cls = LMDBStore
    buffer_cls = cpu.Buffer

    async def set(self, store: LMDBStore, key: str, value: cpu.Buffer) -> None:
        env = _raw_env(store)
        with env.begin(write=True) as txn:
            txn.put(key.encode(), value.to_bytes())
        _ENVS.release(store.path, lambda e: e.close())

    async def get(self, store: LMDBStore, key: str) -> cpu.Buffer:
        env = _raw_env(store)
        with env.begin() as txn:
            value = txn.get(key.encode())
        _ENVS.release(store.path, lambda e: e.close())
        return self.buffer_cls.from_bytes(value)

    @pytest.fixture
    def store_kwargs(self, tmp_path) -> dict:
        path = tmp_path / "data.lmdb"
        store = LMDBStore(path, map_size=2**26)
        store._ensure_open_sync()  # read-only opens need an existing environment
        store.close()
        return {"path": str(path), "map_size": 2**26}

    def test_store_repr(self, store: LMDBStore) -> None:
        assert repr(store) == f"LMDBStore(path={store.path!r}, map_size=67108864, sync=False, read_only=False)"

    def test_store_supports_writes(self, store: LMDBStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: LMDBStore) -> None:
        assert store.supports_listing


async def test_key_too_long(tmp_path) -> None:
    store = await LMDBStore.open(tmp_path / "db", map_size=2**24)
    with pytest.raises(ValueError, match="longer than this backend's 511 bytes"):
        await store.set("a" * 600, cpu.Buffer.from_bytes(b"x"))


async def test_map_full_is_a_clear_error(tmp_path) -> None:
    store = await LMDBStore.open(tmp_path / "db", map_size=2**20)
    with pytest.raises(OSError, match="larger map_size"):
        await store.set("big", cpu.Buffer.from_bytes(b"\0" * 2**21))


async def test_read_only_missing(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        await LMDBStore.open(tmp_path / "missing", read_only=True)


async def test_flush_and_reopen(tmp_path) -> None:
    store = await LMDBStore.open(tmp_path / "db", map_size=2**24)
    await store.set("a/b", cpu.Buffer.from_bytes(b"123"))
    store.flush()
    store.close()
    again = await LMDBStore.open(tmp_path / "db", map_size=2**24, read_only=True)
    assert (await again.get("a/b")).to_bytes() == b"123"


# ---------------------------------------------------------------------- fork


def _child_writes(store: LMDBStore, child: int, out) -> None:
    """In a forked child: use the inherited store object as is (it reopens its own environment)."""
    try:
        for i in range(40):
            store.set_sync(f"child{child}/{i}", cpu.Buffer.from_bytes(b"c%d-%d" % (child, i)))
            assert store.get_sync("base/7").to_bytes() == b"b7"
        out.put((child, "ok"))
    except BaseException as exc:  # report, don't hang the parent
        out.put((child, repr(exc)))


def test_forked_children_use_the_store_while_the_parent_keeps_reading(tmp_path) -> None:
    """Children forked while parent threads read and write: no MDB_BAD_RSLOT or lost snapshot in the
    parent, every child's writes land, and nothing the parent wrote is lost."""
    import multiprocessing as mp
    import threading

    store = LMDBStore(tmp_path / "f.lmdb")
    for i in range(20):
        store.set_sync(f"base/{i}", cpu.Buffer.from_bytes(b"b%d" % i))
    stop = threading.Event()
    errors: list[BaseException] = []

    def parent_traffic(n: int) -> None:
        i = 0
        try:
            while not stop.is_set():
                assert store.get_sync(f"base/{i % 20}").to_bytes() == b"b%d" % (i % 20)
                store.set_sync(f"parent{n}/{i % 30}", cpu.Buffer.from_bytes(b"p%d" % i))
                i += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=parent_traffic, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    try:
        procs = [ctx.Process(target=_child_writes, args=(store, c, out)) for c in range(4)]
        for p in procs:
            p.start()
        results = dict(out.get(timeout=30) for _ in procs)
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert results == dict.fromkeys(range(4), "ok")
    assert not errors, errors
    for c in range(4):
        for i in range(40):
            assert store.get_sync(f"child{c}/{i}").to_bytes() == b"c%d-%d" % (c, i)
    assert [store.get_sync(f"base/{i}").to_bytes() for i in range(20)] == [b"b%d" % i for i in range(20)]
    store.close()
