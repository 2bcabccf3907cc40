"""Writing many small values at once: one thread call per batch for local directories, gather elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from typing import Any

from zarr.abc.store import Store
from zarr.storage import LocalStore

from nwbzarr._private_api import bounded_map
from nwbzarr.storage._files import write_new_name
from nwbzarr.storage.capabilities import SupportsBlockingRead, SupportsSetMany
from nwbzarr.storage.remote import get_values, request_limit

LOCAL_BATCH = 512
#: Threads creating small files at once.  One is fastest: more contend for the same folders (a W2 store,
#: 8,000 folders and 10,000 files, written with nothing deleted before: 0.48-0.58 s from one thread,
#: 0.60-0.70 s from two, 0.72-0.92 s from six).
LOCAL_WRITE_THREADS = 1
SMALL_VALUE_BYTES = 1 << 20  # values averaging more than this are written from a thread per batch


async def set_many(store: Store, items: Sequence[tuple[str, Any]]) -> None:
    """Store every ``(key, Buffer)``: on a LocalStore in a few thread calls (see ``_write_local``); a store
    that ``SupportsSetMany`` (one transaction, one thread call per core) gets the whole batch; others get
    ``set`` calls, at most zarr's ``async.concurrency`` at a time (a remote store opened for writing also
    bounds its writes across calls, see ``storage.remote_writes``)."""
    if not items:
        return
    if type(store) is LocalStore and not store.read_only:
        root = str(store.root)
        batches = [items[i:i + LOCAL_BATCH] for i in range(0, len(items), LOCAL_BATCH)]
        threads = asyncio.Semaphore(LOCAL_WRITE_THREADS if _small_values(items) else len(batches))

        async def write(batch: Sequence[tuple[str, Any]]) -> None:
            async with threads:
                await asyncio.to_thread(_write_local, root, batch)

        await asyncio.gather(*(write(batch) for batch in batches))
        return
    if isinstance(store, SupportsSetMany):  # the store writes a batch in one go (nwbzarr's stores)
        await store.set_many(items)
        return
    await bounded_map(items, store.set, limit=request_limit())


def _small_values(items: Sequence[tuple[str, Any]]) -> bool:
    total = sum(_nbytes(value) for _, value in items)
    return total <= SMALL_VALUE_BYTES * len(items)


def _nbytes(value: Any) -> int:
    if hasattr(value, "as_buffer_like"):
        value = value.as_buffer_like()
    return memoryview(value).nbytes


async def get_many(store: Store, keys: Sequence[str], prototype: Any) -> list[Any]:
    """Whole values of many small keys (None where absent): nwbzarr's key-value stores in one batched
    backend call; where blocking reads are cheap (see ``sync_reader``) all of them in one thread call,
    which beats thousands of concurrent ``get`` calls contending for a few threads; elsewhere concurrent
    ``get`` calls (on remote stores at most zarr's ``async.concurrency`` at a time, see ``storage.remote``)."""
    if not keys:
        return []
    from .base import SyncBackendStore

    if isinstance(store, SyncBackendStore):  # one batched backend call (one transaction, one MGET, ...)
        return await store.get_partial_values(prototype, [(k, None) for k in keys])
    read = sync_reader(store)
    if read is None:  # concurrent gets, remote ones within the shared request limit
        return await get_values(store, keys, prototype)

    def read_all() -> list[Any]:
        values = [read(k) for k in keys]
        return [None if v is None else prototype.buffer.from_bytes(v) for v in values]

    return await asyncio.to_thread(read_all)


def sync_reader_into(store: Store) -> Callable[[str, Callable[[int], Any]], Any] | None:
    """Like ``sync_reader``, but ``read(key, buffer_for)`` reads a LocalStore file into ``buffer_for(size)``
    (a reusable numpy buffer of at least ``size`` bytes) and returns the filled part; fresh ``bytes`` of a
    few MB cost more in page faults than the copy itself.  Other blocking stores return their bytes."""
    if type(store) is LocalStore:
        root = str(store.root)

        def read_into(key: str, buffer_for: Callable[[int], Any]) -> Any:
            try:
                with open(os.path.join(root, key), "rb", buffering=0) as fh:
                    size = os.fstat(fh.fileno()).st_size
                    view = memoryview(buffer_for(size))[:size]
                    done = 0
                    while done < size:
                        n = fh.readinto(view[done:])
                        if not n:
                            break
                        done += n
                    return view[:done]
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return None

        return read_into
    read = sync_reader(store)
    if read is None:
        return None
    return lambda key, buffer_for: read(key)


def sync_writer(store: Store) -> Callable[[str, Any], None] | None:
    """A blocking ``write(key, value)`` for stores where that is cheap and safe from any thread (a writable
    LocalStore: new files without temp+rename, see ``_files.write_new_name``), else None: use ``await store.set``."""
    write_batch = sync_batch_writer(store)
    if write_batch is None:
        return None
    return lambda key, value: write_batch([(key, value)])


def sync_batch_writer(store: Store) -> Callable[[Sequence[tuple[str, Any]]], None] | None:
    """A blocking ``write(items)`` of many ``(key, value)`` pairs from one thread where that beats the event
    loop (a writable LocalStore, as ``sync_writer``), else None."""
    if type(store) is LocalStore and not store.read_only:
        root = str(store.root)
        return lambda items: _write_local(root, items)
    return None


def sync_batch_remover(store: Store) -> Callable[[Sequence[str]], None] | None:
    """A blocking ``remove(keys)`` for the stores ``sync_batch_writer`` writes: each key's file goes, then
    every folder that removal left empty, up to (never including) the store's root; None elsewhere."""
    if type(store) is not LocalStore or store.read_only:
        return None
    root = os.path.realpath(str(store.root))
    return lambda keys: _remove_local(root, keys)


def _remove_local(root: str, keys: Sequence[str]) -> None:
    folders: set[str] = set()
    for key in keys:
        path = os.path.join(root, key)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        folder = os.path.dirname(path)
        while len(folder) > len(root) and folder.startswith(root + os.sep):
            folders.add(folder)
            folder = os.path.dirname(folder)
    for folder in sorted(folders, key=len, reverse=True):  # deepest first
        with contextlib.suppress(OSError):  # not empty (or already gone): kept
            os.rmdir(folder)


def sync_reader(store: Store) -> Callable[[str], bytes | None] | None:
    """A blocking ``read(key) -> bytes or None`` where that is cheaper than a trip through zarr's event
    loop (a LocalStore: one small file read; a store that ``SupportsBlockingRead``), else None: use
    ``await store.get``."""
    if type(store) is LocalStore:
        root = str(store.root)

        def read(key: str) -> bytes | None:
            try:
                with open(os.path.join(root, key), "rb") as fh:
                    return fh.read()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return None

        return read
    if isinstance(store, SupportsBlockingRead):  # reads are blocking calls safe from any thread
        return store.blocking_read
    return None


def _write_local(root: str, items: Sequence[tuple[str, Any]]) -> None:
    """Write values into a LocalStore's directory from one thread (not through ``LocalStore.set``, which
    takes a thread hop and a temp + rename per key): see ``_files.write_new_name`` for why that is safe."""
    made: set[str] = set()
    for key, value in items:
        path = os.path.join(root, key)
        folder = os.path.dirname(path)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        write_new_name(path, value.as_buffer_like() if hasattr(value, "as_buffer_like") else value)
