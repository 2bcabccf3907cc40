"""LRUStoreCache, TempStore and MappingStore against zarr's StoreTests, plus their own behaviour."""

from __future__ import annotations

import os
import pickle

import pytest
from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.storage import LocalStore, MemoryStore
from zarr.testing.store import StoreTests

from nwbzarr.storage import LRUStoreCache, MappingStore, TempStore

PROTO = default_buffer_prototype()


class TestLRUStoreCache(StoreTests[LRUStoreCache, cpu.Buffer]):
    store_cls = LRUStoreCache
    buffer_cls = cpu.Buffer

    async def set(self, store: LRUStoreCache, key: str, value: cpu.Buffer) -> None:
        store._store._store_dict[key] = value

    async def get(self, store: LRUStoreCache, key: str) -> cpu.Buffer:
        return store._store._store_dict[key]

    @pytest.fixture
    def store_kwargs(self) -> dict:
        return {"store": MemoryStore({}), "max_size": 2**20}

    def test_store_repr(self, store: LRUStoreCache) -> None:
        assert repr(store) == f"LRUStoreCache({store._store!r}, max_size=1048576)"

    def test_store_supports_writes(self, store: LRUStoreCache) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: LRUStoreCache) -> None:
        assert store.supports_listing


class TestTempStore(StoreTests[TempStore, cpu.Buffer]):
    store_cls = TempStore
    buffer_cls = cpu.Buffer

    async def set(self, store: TempStore, key: str, value: cpu.Buffer) -> None:
        path = store.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value.to_bytes())

    async def get(self, store: TempStore, key: str) -> cpu.Buffer:
        return self.buffer_cls.from_bytes((store.root / key).read_bytes())

    @pytest.fixture
    def store_kwargs(self, tmp_path) -> dict:
        return {"dir": str(tmp_path), "prefix": "t"}

    def test_store_eq(self, store: TempStore, store_kwargs: dict) -> None:
        """Overridden: every TempStore is a new directory, so equal arguments give unequal stores;
        copies of one store (pickled, with_read_only) are equal to it."""
        assert store == store
        assert store != self.store_cls(**store_kwargs)
        assert pickle.loads(pickle.dumps(store)) == store
        assert store.with_read_only(False) == store

    def test_store_repr(self, store: TempStore) -> None:
        assert repr(store) == f"TempStore('file://{store.root.as_posix()}')"

    def test_store_supports_writes(self, store: TempStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: TempStore) -> None:
        assert store.supports_listing


class TestMappingStore(StoreTests[MappingStore, cpu.Buffer]):
    store_cls = MappingStore
    buffer_cls = cpu.Buffer

    async def set(self, store: MappingStore, key: str, value: cpu.Buffer) -> None:
        store.mapping[key] = value.to_bytes()

    async def get(self, store: MappingStore, key: str) -> cpu.Buffer:
        return self.buffer_cls.from_bytes(store.mapping[key])

    @pytest.fixture
    def store_kwargs(self) -> dict:
        return {"mapping": {}}

    def test_store_repr(self, store: MappingStore) -> None:
        assert repr(store) == f"MappingStore(dict at {id(store.mapping):#x}, read_only=False)"

    def test_store_supports_writes(self, store: MappingStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: MappingStore) -> None:
        assert store.supports_listing


# ---------------------------------------------------------------------- LRUStoreCache behaviour


async def test_cache_hits_misses_and_invalidation_on_writes() -> None:
    inner = MemoryStore({})
    cache = await LRUStoreCache.open(inner, max_size=None)
    await cache.set("a/zarr.json", cpu.Buffer.from_bytes(b"1"))
    assert (await cache.get("a/zarr.json", PROTO)).to_bytes() == b"1"
    assert (cache.hits, cache.misses) == (0, 1)
    assert (await cache.get("a/zarr.json", PROTO)).to_bytes() == b"1"
    assert (cache.hits, cache.misses) == (1, 1)
    assert [k async for k in cache.list_dir("a")] == ["zarr.json"]
    await cache.set("a/zarr.json", cpu.Buffer.from_bytes(b"2"))  # write through the cache
    await cache.set("a/c/0", cpu.Buffer.from_bytes(b"x"))
    assert (await cache.get("a/zarr.json", PROTO)).to_bytes() == b"2"
    assert sorted([k async for k in cache.list_dir("a")]) == ["c", "zarr.json"]
    await cache.delete("a/c/0")
    assert not await cache.exists("a/c/0")
    assert [k async for k in cache.list_dir("a")] == ["zarr.json"]


async def test_cache_does_not_see_changes_behind_its_back_until_invalidated() -> None:
    inner = MemoryStore({})
    cache = await LRUStoreCache.open(inner)
    await inner.set("k", cpu.Buffer.from_bytes(b"old"))
    assert (await cache.get("k", PROTO)).to_bytes() == b"old"
    assert not await cache.exists("other")
    assert [k async for k in cache.list()] == ["k"]
    await inner.set("k", cpu.Buffer.from_bytes(b"new"))
    await inner.set("other", cpu.Buffer.from_bytes(b"o"))
    assert (await cache.get("k", PROTO)).to_bytes() == b"old"
    assert not await cache.exists("other")
    cache.invalidate_values()
    assert (await cache.get("k", PROTO)).to_bytes() == b"new"
    assert not await cache.exists("other")
    cache.invalidate_keys()
    assert await cache.exists("other")
    assert sorted([k async for k in cache.list()]) == ["k", "other"]


async def test_cache_evicts_least_recently_used() -> None:
    cache = await LRUStoreCache.open(MemoryStore({}), max_size=10)
    for key in "abc":
        await cache.set(key, cpu.Buffer.from_bytes(b"1234"))
        await cache.get(key, PROTO)
    assert list(cache._values) == ["b", "c"] and cache._current_size == 8
    await cache.get("b", PROTO)
    await cache.get("a", PROTO)
    assert list(cache._values) == ["b", "a"]
    await cache.set("big", cpu.Buffer.from_bytes(b"x" * 11))
    await cache.get("big", PROTO)
    assert "big" not in cache._values  # larger than the whole cache: never cached


def test_cache_bad_arguments() -> None:
    with pytest.raises(TypeError, match="wraps a zarr Store"):
        LRUStoreCache({}, 10)
    with pytest.raises(ValueError, match="max_size must be >= 0"):
        LRUStoreCache(MemoryStore(), -1)


# ---------------------------------------------------------------------- TempStore behaviour


def test_tempstore_remove_on_close(tmp_path) -> None:
    store = TempStore(dir=tmp_path, remove_on_close=True)
    store.set_sync("a/b", cpu.Buffer.from_bytes(b"1"))
    copy = store.with_read_only(True)
    copy.close()
    assert store.root.exists()  # copies never remove the directory
    store.close()
    assert not store.root.exists()


def test_tempstore_is_a_localstore(tmp_path) -> None:
    store = TempStore(suffix=".zarr", dir=tmp_path)
    assert isinstance(store, LocalStore) and store.root.name.endswith(".zarr")
    assert os.path.dirname(store.root) == str(tmp_path)


# ---------------------------------------------------------------------- MappingStore behaviour


def test_mapping_store_refuses_non_mappings() -> None:
    with pytest.raises(TypeError, match="needs a MutableMapping"):
        MappingStore([1, 2])


def test_mapping_store_on_shelve(tmp_path) -> None:
    """A mapping with blocking file I/O (shelve) works as a zarr store."""
    import shelve

    import numpy as np
    import zarr

    with shelve.open(str(tmp_path / "shelf")) as shelf:
        store = MappingStore(shelf)
        arr = zarr.create_array(store, name="x", shape=(10,), chunks=(3,), dtype="i4")
        arr[:] = np.arange(10)
        assert np.array_equal(zarr.open_array(store, path="x")[:], np.arange(10))
        assert "x/zarr.json" in shelf
