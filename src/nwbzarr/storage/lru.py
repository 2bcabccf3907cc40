"""LRUStoreCache: an in-memory cache of values, existence and listings in front of any zarr 3 store."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from typing import Any, Self

from zarr.abc.buffer import Buffer, BufferPrototype
from zarr.abc.store import ByteRequest, Store
from zarr.buffer import default_buffer_prototype
from zarr.storage import WrapperStore

from nwbzarr.storage.base import slice_value
from nwbzarr.storage.capabilities import fork_safe, multiprocess_safe

from .._private_api import sync

__all__ = ["LRUStoreCache"]


class LRUStoreCache(WrapperStore[Store]):
    """Cache whole values (least recently used evicted beyond ``max_size`` bytes; None: no limit),
    ``exists`` answers and listings of the wrapped store.

    Every write or delete made *through the cache* invalidates what it touches (values of the key,
    all cached existence answers and listings); changes made behind its back are not seen until
    :meth:`invalidate`. Thread-safe: one lock guards the cache.
    """

    def __init__(self, store: Store, max_size: int | None = None, *, read_only: bool | None = None) -> None:
        if not isinstance(store, Store):
            raise TypeError(f"LRUStoreCache wraps a zarr Store, got {type(store).__name__}")
        if max_size is not None and max_size < 0:
            raise ValueError(f"max_size must be >= 0 or None, got {max_size}")
        if read_only is not None and read_only != store.read_only:
            store = store.with_read_only(read_only)
        super().__init__(store)
        self.max_size = max_size
        self.hits = self.misses = 0
        self._lock = threading.Lock()
        self._values: OrderedDict[str, Buffer] = OrderedDict()
        self._current_size = 0
        self._exists: dict[str, bool] = {}
        self._listings: dict[tuple[str, str], tuple[str, ...]] = {}

    @classmethod
    async def open(  # type: ignore[override]
        cls, store: Store, max_size: int | None = None, *, read_only: bool | None = None
    ) -> Self:
        """Create the cache and open the wrapped store."""
        cache = cls(store, max_size, read_only=read_only)
        await cache._ensure_open()
        return cache

    @property
    def supports_multiprocess_writes(self) -> bool:
        """As safe for several writing processes as the wrapped store (each process has its own cache)."""
        return multiprocess_safe(self._store)

    @property
    def supports_fork(self) -> bool:
        """A forked child may use a copy if it may use the wrapped store's."""
        return fork_safe(self._store)

    def _with_store(self, store: Store) -> Self:
        return type(self)(store, self.max_size)

    def __eq__(self, other: object) -> bool:
        return (
            type(self) is type(other)
            and self._store == other._store  # type: ignore[attr-defined]
            and self.max_size == other.max_size  # type: ignore[attr-defined]
        )

    def __repr__(self) -> str:
        return f"LRUStoreCache({self._store!r}, max_size={self.max_size})"

    def __getstate__(self) -> dict[str, Any]:
        return {"store": self._store, "max_size": self.max_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["store"], state["max_size"])  # type: ignore[misc]

    # ------------------------------------------------------------ invalidation

    def invalidate(self) -> None:
        """Forget everything cached."""
        with self._lock:
            self._values.clear()
            self._current_size = 0
            self._exists.clear()
            self._listings.clear()

    def invalidate_values(self) -> None:
        """Forget cached values."""
        with self._lock:
            self._values.clear()
            self._current_size = 0

    def invalidate_keys(self) -> None:
        """Forget cached existence answers and listings."""
        with self._lock:
            self._exists.clear()
            self._listings.clear()

    def _forget(self, key: str | None) -> None:
        """Invalidate after a write/delete of key (None: of many keys)."""
        with self._lock:
            if key is None:
                self._values.clear()
                self._current_size = 0
            elif key in self._values:
                self._current_size -= len(self._values.pop(key))
            self._exists.clear()
            self._listings.clear()

    # ------------------------------------------------------------ value cache

    def _lookup(self, key: str) -> Buffer | None:
        with self._lock:
            value = self._values.get(key)
            if value is None:
                self.misses += 1
                return None
            self._values.move_to_end(key)
            self.hits += 1
            return value

    def _remember(self, key: str, value: Buffer) -> None:
        size = len(value)
        if self.max_size is not None and size > self.max_size:
            return
        with self._lock:
            if key in self._values:
                self._current_size -= len(self._values.pop(key))
            self._values[key] = value
            self._current_size += size
            while self.max_size is not None and self._current_size > self.max_size:
                _, old = self._values.popitem(last=False)
                self._current_size -= len(old)

    async def get(
        self, key: str, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        prototype = prototype or default_buffer_prototype()
        cached = self._lookup(key)
        if cached is not None:
            return prototype.buffer.from_bytes(slice_value(cached.as_buffer_like(), byte_range))  # type: ignore[arg-type]
        if byte_range is not None:
            return await self._store.get(key, prototype, byte_range)
        value = await self._store.get(key, prototype)
        if value is not None:
            self._remember(key, value)
        return value

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return [await self.get(k, prototype, r) for k, r in key_ranges]

    async def exists(self, key: str) -> bool:
        with self._lock:
            if key in self._values:
                return True
            known = self._exists.get(key)
        if known is None:
            known = await self._store.exists(key)
            with self._lock:
                self._exists[key] = known
        return known

    # ------------------------------------------------------------ listings

    async def _listing(self, kind: str, prefix: str) -> tuple[str, ...]:
        with self._lock:
            cached = self._listings.get((kind, prefix))
        if cached is None:
            source = {"list": lambda: self._store.list(), "prefix": lambda: self._store.list_prefix(prefix),
                      "dir": lambda: self._store.list_dir(prefix)}[kind]()
            cached = tuple([k async for k in source])
            with self._lock:
                self._listings[(kind, prefix)] = cached
        return cached

    async def list(self) -> AsyncIterator[str]:  # type: ignore[override]
        for key in await self._listing("list", ""):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:  # type: ignore[override]
        for key in await self._listing("prefix", prefix):
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:  # type: ignore[override]
        for key in await self._listing("dir", prefix):
            yield key

    # ------------------------------------------------------------ synchronous API

    def get_sync(
        self, key: str, *, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        """Blocking get through the cache (not from inside the event loop)."""
        return sync(self.get(key, prototype, byte_range))

    def set_sync(self, key: str, value: Buffer) -> None:
        """Blocking set through the cache."""
        sync(self.set(key, value))

    def delete_sync(self, key: str) -> None:
        """Blocking delete through the cache."""
        sync(self.delete(key))

    # ------------------------------------------------------------ writes

    async def set(self, key: str, value: Buffer) -> None:
        self._forget(key)
        await self._store.set(key, value)
        self._forget(key)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        self._forget(key)
        await self._store.set_if_not_exists(key, value)
        self._forget(key)

    async def set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        """A batch handed to the wrapped store's own batch write, the whole cache forgotten around it."""
        self._forget(None)
        await self._store._set_many(values)
        self._forget(None)

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        await self.set_many(values)

    async def delete(self, key: str) -> None:
        self._forget(key)
        await self._store.delete(key)
        self._forget(key)

    async def delete_dir(self, prefix: str) -> None:
        self._forget(None)
        await self._store.delete_dir(prefix)
        self._forget(None)

    async def clear(self) -> None:
        self._forget(None)
        await self._store._ensure_open()
        await self._store.clear()
        self._forget(None)
