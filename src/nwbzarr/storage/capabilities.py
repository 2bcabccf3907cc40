"""What a store can be trusted with beyond the zarr ``Store`` contract: writes from several processes,
and being copied into a forked child. Writers ask these functions; stores answer with attributes."""

from __future__ import annotations

from zarr.abc.store import Store

__all__ = ["fork_safe", "multiprocess_safe"]


def multiprocess_safe(store: Store) -> bool:
    """Whether several processes may write disjoint chunks of ``store`` (each through its own copy).

    A store claims it with a boolean ``supports_multiprocess_writes`` attribute; otherwise the known
    stores are: zarr's LocalStore and FsspecStore (not on fsspec's in-memory filesystem), and nwbzarr's
    SQLite, LMDB, Redis, H5Container and ZipContainer stores (the container stores with a ``lock``).
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
        return multiprocess_safe(store._store)
    return _nwbzarr_store_safe(store)


def _nwbzarr_store_safe(store: Store) -> bool:
    from . import H5ContainerStore, LMDBStore, RedisStore, SQLiteStore, ZipContainerStore

    if isinstance(store, (H5ContainerStore, ZipContainerStore)):
        return store.lock is not None
    return isinstance(store, (SQLiteStore, LMDBStore, RedisStore))


def fork_safe(store: Store) -> bool:
    """Whether a forked child may open its own copy of ``store``: a store says no with
    ``supports_fork = False``; wrappers answer for the store they wrap."""
    claim = getattr(store, "supports_fork", None)
    if isinstance(claim, bool):
        return claim
    from zarr.storage import WrapperStore

    if isinstance(store, WrapperStore):
        return fork_safe(store._store)
    return True
