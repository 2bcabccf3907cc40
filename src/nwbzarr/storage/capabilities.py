"""What a store can do beyond the zarr ``Store`` contract, asked of the store itself.

Fast paths are named capabilities (small ``runtime_checkable`` protocols, as zarr's ``SupportsGetSync``):
callers test them with ``isinstance``. Safety for several writing processes and for ``fork`` is a
boolean each store declares (``supports_multiprocess_writes``, ``supports_fork``); the functions below
read it, and answer for zarr's own stores, which declare nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from zarr.abc.buffer import Buffer
from zarr.abc.store import Store

from nwbzarr._private_api import wrapped_store

__all__ = ["SupportsBlockingRead", "SupportsSetMany", "fork_safe", "multiprocess_safe"]


@runtime_checkable
class SupportsSetMany(Protocol):
    """Stores that write a batch of values in one go (one transaction, one thread call per core, ...)."""

    async def set_many(self, values: Iterable[tuple[str, Buffer]]) -> None: ...


@runtime_checkable
class SupportsBlockingRead(Protocol):
    """Stores whose whole-value reads are blocking calls safe from any thread (cheaper than the event loop)."""

    def blocking_read(self, key: str) -> bytes | bytearray | memoryview | None: ...


def multiprocess_safe(store: Store) -> bool:
    """Whether several processes may write disjoint chunks of ``store`` (each through its own copy).

    A store says so with its boolean ``supports_multiprocess_writes``; of zarr's stores, which do not
    declare it, LocalStore and FsspecStore (not on fsspec's in-memory filesystem) are safe, a wrapper
    as safe as the store it wraps, and everything else (MemoryStore, ...) is not.
    """
    claim = getattr(store, "supports_multiprocess_writes", None)
    if isinstance(claim, bool):
        return claim
    from zarr.storage import FsspecStore, LocalStore, WrapperStore

    if isinstance(store, LocalStore):
        return True
    if isinstance(store, FsspecStore):
        protocol = getattr(store.fs, "protocol", "")
        protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
        return "memory" not in protocols
    if isinstance(store, WrapperStore):
        return multiprocess_safe(wrapped_store(store))
    return False


def fork_safe(store: Store) -> bool:
    """Whether a forked child may open its own copy of ``store``: a store says no with
    ``supports_fork = False``; wrappers answer for the store they wrap; zarr's stores may fork."""
    claim = getattr(store, "supports_fork", None)
    if isinstance(claim, bool):
        return claim
    from zarr.storage import WrapperStore

    if isinstance(store, WrapperStore):
        return fork_safe(wrapped_store(store))
    return True
