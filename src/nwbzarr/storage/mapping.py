"""MappingStore: any ``MutableMapping`` (dict, shelve, zict, ...) of str keys to bytes as a zarr store."""

from __future__ import annotations

import threading
from collections.abc import MutableMapping
from typing import Any

from zarr.abc.store import ByteRequest

from nwbzarr.storage.base import BytesLike, SyncBackendStore, slice_value

__all__ = ["MappingStore"]


class MappingStore(SyncBackendStore):
    """Adapt a ``MutableMapping[str, bytes]`` into a zarr 3 store; values are stored as ``bytes``.

    Concurrency: threads (a lock serialises every access, since mappings are generally not
    thread-safe); calls run in worker threads, so mappings doing blocking I/O do not stall zarr's
    event loop. Equality is equality of the mappings, as in ``MemoryStore``.
    """

    supports_multiprocess_writes = False  # a mapping lives in one process
    supports_fork = True

    def __init__(self, mapping: MutableMapping[str, Any] | None = None, *, read_only: bool = False) -> None:
        super().__init__(read_only=read_only)
        if mapping is None:
            mapping = {}
        if not isinstance(mapping, MutableMapping):
            raise TypeError(f"MappingStore needs a MutableMapping, got {type(mapping).__name__}")
        self.mapping = mapping
        self._lock = threading.RLock()

    def _config(self) -> dict[str, Any]:
        return {"mapping": self.mapping}

    def __repr__(self) -> str:
        return f"MappingStore({type(self.mapping).__name__} at {id(self.mapping):#x}, read_only={self.read_only})"

    def __hash__(self) -> int:
        return id(self.mapping)

    def _b_open(self) -> None:
        pass

    def _b_close(self) -> None:
        pass

    def _b_get(self, key: str, byte_range: ByteRequest | None) -> BytesLike | None:
        with self._lock:
            value = self.mapping.get(key)
        return None if value is None else bytes(slice_value(value, byte_range))

    def _b_exists(self, key: str) -> bool:
        with self._lock:
            return key in self.mapping

    def _b_set(self, key: str, data: BytesLike) -> None:
        with self._lock:
            self.mapping[key] = bytes(data)

    def _b_set_if_absent(self, key: str, data: BytesLike) -> None:
        with self._lock:
            self.mapping.setdefault(key, bytes(data))

    def _b_delete(self, key: str) -> None:
        with self._lock:
            self.mapping.pop(key, None)

    def _b_list_prefix(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(k for k in self.mapping if k.startswith(prefix))
