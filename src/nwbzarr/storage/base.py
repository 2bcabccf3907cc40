"""Shared machinery for stores whose backend is a blocking (synchronous) key-value API.

zarr-python 3 runs every store call on one event-loop thread; a blocking call there stalls all
other I/O.  :class:`SyncBackendStore` implements the whole async ``zarr.abc.store.Store``
contract once, on top of a handful of small synchronous primitives (``_b_*``) that subclasses
provide, and runs those primitives in worker threads with ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from abc import abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Any, Self

from zarr.abc.buffer import Buffer, BufferPrototype
from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.buffer import default_buffer_prototype

__all__ = [
    "SharedHandles",
    "SyncBackendStore",
    "check_byte_range",
    "check_key",
    "prefix_upper_bound",
    "resolve_range",
]

BytesLike = bytes | bytearray | memoryview


def check_key(key: str, max_bytes: int | None = None) -> str:
    """Validate a store key; raise a ValueError naming the problem.

    Keys are '/'-separated, relative, without empty, '.' or '..' segments (as zarr produces them).
    """
    if not isinstance(key, str):
        raise TypeError(f"store keys must be str, got {type(key).__name__}: {key!r}")
    if key == "":
        raise ValueError("invalid store key '': keys must not be empty")
    if "\x00" in key:
        raise ValueError(f"invalid store key {key!r}: keys must not contain NUL characters")
    segments = key.split("/")
    if "" in segments:
        raise ValueError(f"invalid store key {key!r}: keys must not start or end with '/' or contain '//'")
    if any(s in (".", "..") for s in segments):
        raise ValueError(f"invalid store key {key!r}: keys must not contain '.' or '..' segments")
    if max_bytes is not None and len(key.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ValueError(f"invalid store key {key[:40]!r}...: longer than this backend's {max_bytes} bytes")
    return key


def check_byte_range(byte_range: ByteRequest | None) -> None:
    """Reject byte ranges that are not one of zarr's ByteRequest types or are negative.

    The one range check of every nwbzarr store. Where zarr's LocalStore fails on a range it cannot
    seek to (start > end, negative start or offset) this raises ValueError; ranges past the end of a
    value are clamped by ``resolve_range``, as LocalStore and MemoryStore clamp them, and a negative
    suffix selects no bytes, as it does on both.
    """
    if byte_range is None:
        return
    if isinstance(byte_range, RangeByteRequest):
        if byte_range.start < 0 or byte_range.end < byte_range.start:
            raise ValueError(f"Unexpected byte_range, got {byte_range}: need 0 <= start <= end")
    elif isinstance(byte_range, OffsetByteRequest):
        if byte_range.offset < 0:
            raise ValueError(f"Unexpected byte_range, got {byte_range}: offset must be >= 0")
    elif not isinstance(byte_range, SuffixByteRequest):  # a negative suffix asks for nothing (as LocalStore)
        raise TypeError(f"Unexpected byte_range, got {byte_range!r}.")


def resolve_range(size: int, byte_range: ByteRequest | None) -> tuple[int, int]:
    """Turn a (checked) ByteRequest into a clipped ``(start, stop)`` pair for a value of ``size`` bytes."""
    if byte_range is None:
        return 0, size
    if isinstance(byte_range, RangeByteRequest):
        start = min(byte_range.start, size)
        return start, max(start, min(byte_range.end, size))
    if isinstance(byte_range, OffsetByteRequest):
        return min(byte_range.offset, size), size
    if isinstance(byte_range, SuffixByteRequest):
        return min(size, max(0, size - byte_range.suffix)), size
    raise TypeError(f"Unexpected byte_range, got {byte_range!r}.")


def slice_value(data: BytesLike, byte_range: ByteRequest | None) -> BytesLike:
    """Apply a ByteRequest to an in-memory value."""
    if byte_range is None:
        return data
    start, stop = resolve_range(len(data), byte_range)
    return memoryview(data)[start:stop]


def prefix_upper_bound(prefix: str) -> str | None:
    """Smallest string greater than every string starting with ``prefix`` (None: no bound).

    Used for range scans (``prefix <= k < bound``), which, unlike SQL ``LIKE``, treat ``%`` and ``_``
    literally and use the primary-key index.
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code == 0xD800:
            code = 0xE000  # skip surrogates: they cannot be encoded
        if code <= 0x10FFFF:
            return "".join(chars) + chr(code)
    return None


def children(keys: Iterable[str], base: str) -> list[str]:
    """Distinct first path segments below ``base`` (which is '' or ends with '/'), sorted."""
    n = len(base)
    return sorted({k[n:].split("/", 1)[0] for k in keys if k.startswith(base) and len(k) > n})


def dir_base(prefix: str) -> str:
    """Normalise a list_dir/delete_dir prefix to '' or 'a/b/'."""
    prefix = prefix.strip("/")
    return prefix + "/" if prefix else ""


class SharedHandles:
    """Process-wide, reference-counted backend handles keyed by path.

    Some backends (LMDB, dbm) allow one open handle per file and process; every store instance on
    that file (copies from ``with_read_only``, unpickled copies) shares it. Handles inherited
    through fork are dropped, never used or closed, in the child.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handles: dict[str, list[Any]] = {}
        self._pid = os.getpid()

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            self._pid, self._handles, self._lock = os.getpid(), {}, threading.Lock()

    def acquire(self, key: str, opener: Any) -> Any:
        """The handle for key, opened with ``opener()`` if this is the first user."""
        self._check_fork()
        with self._lock:
            entry = self._handles.get(key)
            if entry is None:
                entry = self._handles[key] = [opener(), 0]
            entry[1] += 1
            return entry[0]

    def detach_after_fork(self) -> list[Any]:
        """In a forked child: forget every inherited handle without closing it and return them, so the
        caller closes them the way its backend allows. The inherited lock is replaced, not taken: the
        thread that may have held it does not exist in the child."""
        handles = [entry[0] for entry in self._handles.values()]
        self._pid, self._handles, self._lock = os.getpid(), {}, threading.Lock()
        return handles

    def get(self, key: str) -> Any:
        """The current handle for key (the caller must hold a reference)."""
        self._check_fork()
        entry = self._handles.get(key)
        if entry is None:
            raise ValueError(f"{key} is not open (store closed, or used after fork without reopening)")
        return entry[0]

    def release(self, key: str, closer: Any) -> None:
        """Drop one reference; ``closer(handle)`` when the last user is gone."""
        self._check_fork()
        with self._lock:
            entry = self._handles.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del self._handles[key]
                closer(entry[0])

    def replace(self, key: str, opener: Any, closer: Any) -> Any:
        """Swap the shared handle for a new one (e.g. to upgrade read-only to read-write)."""
        with self._lock:
            entry = self._handles[key]
            closer(entry[0])
            entry[0] = opener()
            return entry[0]


class SyncBackendStore(Store):
    """A zarr 3 store on a blocking key-value backend, run off the event loop in worker threads.

    The one base of nwbzarr's stores. Subclasses implement ``_config`` and the ``_b_*`` primitives
    (abstract here); those must be thread-safe. Equality, pickling and ``with_read_only`` all derive
    from ``_config()``. Each concrete store declares ``supports_multiprocess_writes`` (several processes
    may write disjoint keys, each through its own copy) and ``supports_fork`` (a forked child may use its
    copy); ``storage.capabilities`` reads them.
    """

    supports_writes: bool = True
    supports_deletes: bool = True
    supports_listing: bool = True
    supports_multiprocess_writes: bool
    supports_fork: bool
    max_key_bytes: int | None = None
    listing_needs_open: bool = True  # False: listing works on an unopened store (and lists nothing if absent)

    def __init__(self, *, read_only: bool = False) -> None:
        super().__init__(read_only=read_only)
        self._open_lock = threading.Lock()

    # ---------------------------------------------------------------- configuration

    @abstractmethod
    def _config(self) -> dict[str, Any]:
        """Constructor keyword arguments (besides read_only) that identify this store."""

    @abstractmethod
    def _b_open(self) -> None:
        """Connect to / open the backend (blocking)."""

    @abstractmethod
    def _b_close(self) -> None:
        """Release backend resources (blocking, idempotent)."""

    def __eq__(self, other: object) -> bool:
        return (
            type(self) is type(other)
            and self._config() == other._config()  # type: ignore[attr-defined]
            and self.read_only == other.read_only  # type: ignore[attr-defined]
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self._config().items())), self.read_only))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({args}, read_only={self.read_only})"

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self._config(), "read_only": self.read_only}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["config"], read_only=state["read_only"])  # type: ignore[misc]

    def with_read_only(self, read_only: bool = False) -> Self:
        """A new, unopened store on the same backend with the given read_only setting."""
        return type(self)(**self._config(), read_only=read_only)

    # ---------------------------------------------------------------- open / close

    def _ensure_open_sync(self) -> None:
        with self._open_lock:
            if not self._is_open:
                self._b_open()
                self._is_open = True

    async def _open(self) -> None:
        if self._is_open:
            raise ValueError("store is already open")
        await asyncio.to_thread(self._ensure_open_sync)

    async def _ensure_open(self) -> None:
        if not self._is_open:
            await asyncio.to_thread(self._ensure_open_sync)

    def close(self) -> None:
        """Close the backend; the store reopens on next use."""
        with self._open_lock:
            self._b_close()
            super().close()

    async def _in_thread(self, func: Any, *args: Any, open_first: bool = True) -> Any:
        """Run a blocking primitive in a worker thread, opening the store first if needed."""

        def call() -> Any:
            if open_first:
                self._ensure_open_sync()
            return func(*args)

        return await asyncio.to_thread(call)

    # ---------------------------------------------------------------- backend primitives

    @abstractmethod
    def _b_get(self, key: str, byte_range: ByteRequest | None) -> BytesLike | None:
        """Value (or byte range of it) at key, None if absent."""

    @abstractmethod
    def _b_set(self, key: str, data: BytesLike) -> None:
        """Store a value."""

    @abstractmethod
    def _b_delete(self, key: str) -> None:
        """Remove a key; absent keys are fine."""

    @abstractmethod
    def _b_list_prefix(self, prefix: str) -> list[str]:
        """All keys starting with prefix (plain string prefix)."""

    def _b_get_many(self, requests: list[tuple[str, ByteRequest | None]]) -> list[BytesLike | None]:
        return [self._b_get(k, r) for k, r in requests]

    def _b_set_many(self, items: list[tuple[str, BytesLike]]) -> None:
        for k, v in items:
            self._b_set(k, v)

    def _b_set_if_absent(self, key: str, data: BytesLike) -> None:
        if not self._b_exists(key):
            self._b_set(key, data)

    def _b_exists(self, key: str) -> bool:
        return self._b_size(key) is not None

    def _b_size(self, key: str) -> int | None:
        value = self._b_get(key, None)
        return None if value is None else len(value)

    def _b_delete_prefix(self, prefix: str) -> None:
        for key in self._b_list_prefix(prefix):
            self._b_delete(key)

    def _b_any_with_prefix(self, prefix: str) -> bool:
        return bool(self._b_list_prefix(prefix))

    def _b_list_dir(self, base: str) -> list[str]:
        return children(self._b_list_prefix(base), base)

    # ---------------------------------------------------------------- helpers

    def _key(self, key: str) -> str:
        return check_key(key, self.max_key_bytes)

    def _value(self, value: Buffer) -> memoryview:
        if not isinstance(value, Buffer):
            raise TypeError(
                f"{type(self).__name__}.set(): `value` must be a Buffer instance, got {type(value).__name__}."
            )
        return memoryview(value.as_buffer_like()).cast("B")

    @staticmethod
    def _wrap(data: BytesLike | None, prototype: BufferPrototype | None) -> Buffer | None:
        if data is None:
            return None
        prototype = prototype or default_buffer_prototype()
        return prototype.buffer.from_bytes(data)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- synchronous API

    def get_sync(
        self, key: str, *, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        """Blocking get, for callers outside the event loop."""
        check_byte_range(byte_range)
        key = self._key(key)
        self._ensure_open_sync()
        return self._wrap(self._b_get(key, byte_range), prototype)

    def blocking_read(self, key: str) -> BytesLike | None:
        """A whole value (None if absent) read in the calling thread: the primitives are safe from any
        thread, so ``storage.batch.sync_reader`` hands this to small reads to skip zarr's event loop."""
        key = self._key(key)
        self._ensure_open_sync()
        return self._b_get(key, None)

    def list_prefix_sync(self, prefix: str) -> list[str]:
        """Blocking, sorted ``list_prefix``, for callers outside the event loop."""
        if self.listing_needs_open:
            self._ensure_open_sync()
        return sorted(self._b_list_prefix(prefix))

    def set_sync(self, key: str, value: Buffer) -> None:
        """Blocking set, for callers outside the event loop."""
        self._check_writable()
        key, data = self._key(key), self._value(value)
        self._ensure_open_sync()
        self._b_set(key, data)

    def delete_sync(self, key: str) -> None:
        """Blocking delete, for callers outside the event loop."""
        self._check_writable()
        key = self._key(key)
        self._ensure_open_sync()
        self._b_delete(key)

    # ---------------------------------------------------------------- async Store API

    async def get(
        self, key: str, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        check_byte_range(byte_range)
        key = self._key(key)
        return self._wrap(await self._in_thread(self._b_get, key, byte_range), prototype)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        requests = [(self._key(k), r) for k, r in key_ranges]
        for _, r in requests:
            check_byte_range(r)
        if not requests:
            return []
        values = await self._in_thread(self._b_get_many, requests)
        return [self._wrap(v, prototype) for v in values]

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        reqs = list(requests)
        values = await self.get_partial_values(
            reqs[0][1] if reqs else default_buffer_prototype(), [(k, r) for k, _, r in reqs]
        )
        for (key, _, _), value in zip(reqs, values):
            yield key, value

    async def exists(self, key: str) -> bool:
        return await self._in_thread(self._b_exists, self._key(key))

    async def getsize(self, key: str) -> int:
        size = await self._in_thread(self._b_size, self._key(key))
        if size is None:
            raise FileNotFoundError(key)
        return size

    async def set(self, key: str, value: Buffer) -> None:
        self._check_writable()
        await self._in_thread(self._b_set, self._key(key), self._value(value))

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        self._check_writable()
        await self._in_thread(self._b_set_if_absent, self._key(key), self._value(value))

    async def set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        """Store many ``(key, Buffer)`` pairs in one backend call (one transaction, one pipeline, ...)."""
        self._check_writable()
        items = [(self._key(k), self._value(v)) for k, v in values]
        if items:
            await self._in_thread(self._b_set_many, items)

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        """zarr's batch hook (its wrapper stores call it): the same as ``set_many``."""
        await self.set_many(values)

    async def delete(self, key: str) -> None:
        self._check_writable()
        await self._in_thread(self._b_delete, self._key(key))

    async def delete_dir(self, prefix: str) -> None:
        # kept rather than zarr's Store.delete_dir (one awaited delete per listed key): one backend call
        # (one transaction, one range delete, one rmtree) in one thread
        self._check_writable()
        await self._in_thread(self._b_delete_prefix, dir_base(prefix))

    async def clear(self) -> None:
        self._check_writable()
        await self._in_thread(self._b_delete_prefix, "")

    async def is_empty(self, prefix: str) -> bool:
        # kept rather than zarr's (a full listing): backends answer "any key with this prefix?" cheaply
        return not await self._in_thread(self._b_any_with_prefix, dir_base(prefix), open_first=self.listing_needs_open)

    async def list(self) -> AsyncIterator[str]:
        for key in await self._in_thread(self._b_list_prefix, "", open_first=self.listing_needs_open):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for key in await self._in_thread(self._b_list_prefix, prefix, open_first=self.listing_needs_open):
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:  # abstract in zarr's Store
        for key in await self._in_thread(self._b_list_dir, dir_base(prefix), open_first=self.listing_needs_open):
            yield key
