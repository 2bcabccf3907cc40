"""LMDB store on py-lmdb; opens databases written by zarr 2's LMDBStore."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from zarr.abc.store import ByteRequest

from nwbzarr.storage.base import BytesLike, SharedHandles, SyncBackendStore, resolve_range

__all__ = ["LMDBStore"]

_ENVS = SharedHandles()
_DEFAULT_MAP_SIZE = 2**40 if sys.maxsize >= 2**32 else 2**28
_FORK_WAIT_SECONDS = 30.0


class _ForkGate:
    """Lets no transaction span a ``fork``: transactions run inside the gate, and a fork waits for the
    running ones to end and keeps new ones out until it is done.

    Why: a transaction object inherited by a child holds a slot of the parent's reader table; when
    the child drops or aborts it, LMDB frees the parent's slot (MDB_BAD_RSLOT in the parent, or pages
    of a live snapshot reused under it). With no transaction alive at the fork and no cached spare
    transactions, the child can close the inherited environment (LMDB then clears only the child's own
    slots) and open its own.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False

    @contextmanager
    def inside(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._closed)
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                if not self._active:
                    self._cond.notify_all()

    def before_fork(self) -> None:
        """Close the gate, wait for running transactions, and hold the lock through the fork."""
        self._cond.acquire()
        self._closed = True
        if not self._cond.wait_for(lambda: self._active == 0, timeout=_FORK_WAIT_SECONDS):
            warnings.warn("forking while an LMDB transaction is still running in another thread; the "
                          "child must not use LMDBStore", RuntimeWarning, stacklevel=2)

    def after_fork_in_parent(self) -> None:
        self._closed = False
        self._cond.notify_all()
        self._cond.release()

    def after_fork_in_child(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False
        _close_inherited_environments()


def _close_inherited_environments() -> None:
    """In a forked child: close the parent's environments (no transaction of theirs is alive, see
    ``_ForkGate``) so that this process may open its own."""
    for env in _ENVS.detach_after_fork():
        try:
            env.close()
        except Exception:  # pragma: no cover - a half-open handle; the child opens its own anyway
            pass


_GATE = _ForkGate()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_GATE.before_fork, after_in_parent=_GATE.after_fork_in_parent,
                        after_in_child=_GATE.after_fork_in_child)


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
    mid-write loses only its uncommitted transaction. Safe across ``fork``: a fork waits for running
    transactions and no read transaction is cached, so the child closes the inherited environment
    without touching the parent's reader slots and opens its own. Keys are limited to 511 UTF-8 bytes. ``sync=False`` (zarr 2's default) trades
    durability on power loss for speed; call :meth:`flush` to force data to disk.
    """

    supports_multiprocess_writes = True  # LMDB serialises writers across processes
    supports_fork = True  # see _ForkGate

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
            "max_spare_txns": 0,  # a cached read transaction holds a reader slot across fork
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
        if self._pid != os.getpid():  # forked: the parent's handle was closed; open this process's own
            self._pid = os.getpid()
            _ENVS.acquire(self.path, self._open_env)
        return _ENVS.get(self.path)

    @contextmanager
    def _txn(self, write: bool = False, buffers: bool = False) -> Iterator[Any]:
        """A transaction that never spans a fork (see ``_ForkGate``)."""
        with _GATE.inside(), self._env().begin(write=write, buffers=buffers) as txn:
            yield txn

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
        with self._txn(buffers=True) as txn:
            return self._read(txn, key, byte_range)

    def _b_get_many(self, requests: list[tuple[str, ByteRequest | None]]) -> list[BytesLike | None]:
        with self._txn(buffers=True) as txn:
            return [self._read(txn, k, r) for k, r in requests]

    def _b_size(self, key: str) -> int | None:
        with self._txn(buffers=True) as txn:
            value = txn.get(key.encode("utf-8"))
            return None if value is None else len(value)

    def _write(self, items: list[tuple[str, BytesLike]], overwrite: bool = True) -> None:
        lmdb = _lmdb()
        try:
            with self._txn(write=True) as txn:
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
        with self._txn(write=True) as txn:
            txn.delete(key.encode("utf-8"))

    def _b_delete_prefix(self, prefix: str) -> None:
        raw = prefix.encode("utf-8")
        with self._txn(write=True) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(raw):
                return
            while cursor.key().startswith(raw):
                if not cursor.delete():
                    break

    def _b_list_prefix(self, prefix: str) -> list[str]:
        raw = prefix.encode("utf-8")
        out = []
        with self._txn() as txn:
            cursor = txn.cursor()
            if cursor.set_range(raw):
                for key in cursor.iternext(keys=True, values=False):
                    if not key.startswith(raw):
                        break
                    out.append(key.decode("utf-8"))
        return out

    def _b_any_with_prefix(self, prefix: str) -> bool:
        raw = prefix.encode("utf-8")
        with self._txn() as txn:
            cursor = txn.cursor()
            return bool(cursor.set_range(raw)) and bytes(cursor.key()).startswith(raw)
