"""LMDB store on py-lmdb; opens databases written by zarr 2's LMDBStore."""

from __future__ import annotations

import os
import sys
from typing import Any

from zarr.abc.store import ByteRequest

from nwbzarr.storage.base import BytesLike, SharedHandles, SyncBackendStore, resolve_range

__all__ = ["LMDBStore"]

_ENVS = SharedHandles()
_DEFAULT_MAP_SIZE = 2**40 if sys.maxsize >= 2**32 else 2**28


def _lmdb() -> Any:
    try:
        import lmdb
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("LMDBStore needs the 'lmdb' package: pip install nwbzarr[stores]") from err
    return lmdb


class LMDBStore(SyncBackendStore):
    """A zarr store in an LMDB environment (a directory holding ``data.mdb`` and ``lock.mdb``).

    Concurrency: any number of threads and processes; LMDB serialises writers with its own lock
    and readers never block. Values are copied inside their read transaction. A writer killed
    mid-write loses only its uncommitted transaction. After ``fork`` the child reopens the
    environment. Keys are limited to 511 UTF-8 bytes. ``sync=False`` (zarr 2's default) trades
    durability on power loss for speed; call :meth:`flush` to force data to disk.
    """

    max_key_bytes = 511

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        map_size: int = _DEFAULT_MAP_SIZE,
        sync: bool = False,
        read_only: bool = False,
        **open_kwargs: Any,
    ) -> None:
        super().__init__(read_only=read_only)
        self.path = os.path.abspath(os.fspath(path))
        self.map_size = int(map_size)
        self.sync = bool(sync)
        self.open_kwargs = dict(sorted(open_kwargs.items()))
        self._pid = os.getpid()

    def _config(self) -> dict[str, Any]:
        return {"path": self.path, "map_size": self.map_size, "sync": self.sync, **self.open_kwargs}

    # ------------------------------------------------------------ environment

    def _open_env(self) -> Any:
        lmdb = _lmdb()
        kwargs = {
            "map_size": self.map_size,
            "sync": self.sync,
            "metasync": self.sync,
            "writemap": sys.platform.startswith("linux"),
            "max_spare_txns": os.cpu_count() or 4,
            "max_readers": 512,
            **self.open_kwargs,
        }
        if self.read_only:
            subdir = kwargs.get("subdir", True)
            data = os.path.join(self.path, "data.mdb") if subdir else self.path
            if not os.path.exists(data):
                raise FileNotFoundError(f"LMDB store {self.path} does not exist")
            kwargs["create"] = False
            kwargs["readonly"] = not os.access(self.path, os.W_OK)
        return lmdb.open(self.path, **kwargs)

    def _env(self) -> Any:
        if self._pid != os.getpid():  # forked: the parent's handle must not be used here
            self._pid = os.getpid()
            _ENVS.acquire(self.path, self._open_env)
        return _ENVS.get(self.path)

    def _b_open(self) -> None:
        self._pid = os.getpid()
        _ENVS.acquire(self.path, self._open_env)

    def _b_close(self) -> None:
        if self._is_open and self._pid == os.getpid():
            _ENVS.release(self.path, lambda env: env.close())

    def flush(self) -> None:
        """Force all committed data to disk."""
        self._ensure_open_sync()
        self._env().sync(True)

    # ------------------------------------------------------------ primitives

    @staticmethod
    def _read(txn: Any, key: str, byte_range: ByteRequest | None) -> bytes | None:
        value = txn.get(key.encode("utf-8"))
        if value is None:
            return None
        start, stop = resolve_range(len(value), byte_range)
        return bytes(value[start:stop])  # copy while the transaction is alive

    def _b_get(self, key: str, byte_range: ByteRequest | None) -> BytesLike | None:
        with self._env().begin(buffers=True) as txn:
            return self._read(txn, key, byte_range)

    def _b_get_many(self, requests: list[tuple[str, ByteRequest | None]]) -> list[BytesLike | None]:
        with self._env().begin(buffers=True) as txn:
            return [self._read(txn, k, r) for k, r in requests]

    def _b_size(self, key: str) -> int | None:
        with self._env().begin(buffers=True) as txn:
            value = txn.get(key.encode("utf-8"))
            return None if value is None else len(value)

    def _write(self, items: list[tuple[str, BytesLike]], overwrite: bool = True) -> None:
        lmdb = _lmdb()
        try:
            with self._env().begin(write=True) as txn:
                for key, data in items:
                    txn.put(key.encode("utf-8"), data, overwrite=overwrite)
        except lmdb.MapFullError as err:
            raise OSError(f"LMDB store {self.path} is full: open it with a larger map_size") from err

    def _b_set(self, key: str, data: BytesLike) -> None:
        self._write([(key, data)])

    def _b_set_many(self, items: list[tuple[str, BytesLike]]) -> None:
        self._write(items)

    def _b_set_if_absent(self, key: str, data: BytesLike) -> None:
        self._write([(key, data)], overwrite=False)

    def _b_delete(self, key: str) -> None:
        with self._env().begin(write=True) as txn:
            txn.delete(key.encode("utf-8"))

    def _b_delete_prefix(self, prefix: str) -> None:
        raw = prefix.encode("utf-8")
        with self._env().begin(write=True) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(raw):
                return
            while cursor.key().startswith(raw):
                if not cursor.delete():
                    break

    def _b_list_prefix(self, prefix: str) -> list[str]:
        raw = prefix.encode("utf-8")
        out = []
        with self._env().begin() as txn:
            cursor = txn.cursor()
            if cursor.set_range(raw):
                for key in cursor.iternext(keys=True, values=False):
                    if not key.startswith(raw):
                        break
                    out.append(key.decode("utf-8"))
        return out

    def _b_any_with_prefix(self, prefix: str) -> bool:
        raw = prefix.encode("utf-8")
        with self._env().begin() as txn:
            cursor = txn.cursor()
            return bool(cursor.set_range(raw)) and bytes(cursor.key()).startswith(raw)
