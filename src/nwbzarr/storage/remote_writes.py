"""Writes to remote stores within the shared request limit, and failed writes that name what they wrote.

A remote store opened for writing (``s3://``, ``gs://``, ... by URL, or given as a store to a writer) is
used as a ``BoundedFsspecStore`` / ``BoundedObjectStore``: the same store, whose every PUT and DELETE
takes a slot of the one per-event-loop limit that remote reads take (``storage.remote``, zarr's
``async.concurrency``). So nwbzarr's batches, its chunk encoder and zarr's own chunk writes (``setitem``,
sharding) together never have more writes in flight than that limit, in this process and in each worker
process (a store pickles as its subclass, options included). Reads are not bounded here: nwbzarr's read
path takes its own slots, and a slot is never taken inside another.

A failed PUT or DELETE is raised as ``WriteError`` naming the key and the store's URL (the client's own
errors often name neither). Transient errors are retried by the client before that (s3fs and
aiobotocore retry 5xx and throttling).
"""

from __future__ import annotations

from typing import Any

from zarr.abc.store import Store
from zarr.storage import FsspecStore, ObjectStore

from nwbzarr.errors import WriteError
from nwbzarr.storage.remote import request_slot
from nwbzarr.storage.remote_clients import obstore_url

__all__ = ["BoundedFsspecStore", "BoundedObjectStore", "bounded_writes", "store_url"]

_CALLER_ERRORS = (ValueError, TypeError, NotImplementedError)  # a bad call (read-only store, ...): as zarr raises it


def store_url(store: Store, key: str = "") -> str:
    """The URL of ``key`` in a remote store, for messages (``s3://bucket/x.nwb.zarr/acquisition/c/0``)."""
    if isinstance(store, FsspecStore):
        protocol = store.fs.protocol[0] if isinstance(store.fs.protocol, (tuple, list)) else store.fs.protocol
        base = f"{protocol}://{store.path.strip('/')}"
    else:
        base = obstore_url(getattr(store, "store", None)) or str(store)
    return f"{base.rstrip('/')}/{key}" if key else base


class BoundedWrites:
    """Mixin for a remote store class: ``set`` and ``delete`` each take a slot of the shared request limit,
    and their failures name the key and the URL. (zarr's ``Store.set_if_not_exists`` calls ``set``: a store
    whose own version does not must bound it itself, as ``BoundedObjectStore`` does; never around ``set``.)"""

    async def set(self, key: str, value: Any, byte_range: tuple[int, int] | None = None) -> None:
        async with request_slot(self):  # type: ignore[arg-type]
            put = super().set(key, value) if byte_range is None else super().set(key, value, byte_range)  # type: ignore[misc]
            await _named(self, "storing", key, put)

    async def delete(self, key: str) -> None:
        async with request_slot(self):  # type: ignore[arg-type]
            await _named(self, "deleting", key, super().delete(key))  # type: ignore[misc]


async def _named(store: Any, action: str, key: str, request: Any) -> None:
    try:
        await request
    except _CALLER_ERRORS:
        raise
    except Exception as exc:
        raise WriteError(f"{action} {key!r} at {store_url(store, key)} failed: {type(exc).__name__}: {exc}") from exc


class BoundedFsspecStore(BoundedWrites, FsspecStore):
    """An ``FsspecStore`` whose writes are bounded by the shared request limit (see the module)."""


class BoundedObjectStore(BoundedWrites, ObjectStore):
    """An obstore ``ObjectStore`` whose writes are bounded by the shared request limit (see the module)."""

    async def set_if_not_exists(self, key: str, value: Any) -> None:  # one conditional PUT, not via set()
        async with request_slot(self):
            await _named(self, "storing", key, super().set_if_not_exists(key, value))


def bounded_writes(store: Store) -> Store:
    """``store`` itself, or (a writable ``FsspecStore`` or ``ObjectStore``, not a subclass of either) the same
    store as its bounded subclass: same file system or client, path and options."""
    if store.read_only or isinstance(store, BoundedWrites):
        return store
    if type(store) is FsspecStore:
        return BoundedFsspecStore(fs=store.fs, path=store.path, read_only=False,
                                  allowed_exceptions=store.allowed_exceptions)
    if type(store) is ObjectStore:
        return BoundedObjectStore(store.store, read_only=False)
    return store
