"""DBM store: any ``dbm``-style module (dbm.gnu, dbm.ndbm, dbm.dumb, semidbm, ...) as a zarr store."""

from __future__ import annotations

import dbm as _dbm
import os
import threading
from collections.abc import Callable
from typing import Any

from zarr.abc.store import ByteRequest

from nwbzarr.storage.base import BytesLike, SharedHandles, SyncBackendStore, slice_value
from nwbzarr.storage.locks import WriterLock

__all__ = ["DBMStore"]

_DBS = SharedHandles()


class _Handle:
    """One open dbm database shared by all stores on its file, the thread lock serialising it and, while
    it is writable, the file's writer lock (one writing process at a time)."""

    def __init__(self, opener: Callable[[str], Any], writable: bool, writer_lock: WriterLock) -> None:
        self.opener = opener
        self.lock = threading.RLock()
        self.writer_lock = writer_lock
        self.writable = writable
        if writable:
            writer_lock.acquire()
        try:
            self.db = opener("c" if writable else "r")
        except BaseException:
            writer_lock.release()
            raise

    def upgrade(self, flag: str) -> None:
        """Reopen read-write (a writer joined stores that opened the file read-only)."""
        with self.lock:
            if not self.writable:
                self.writer_lock.acquire()
                self.close()
                self.db = self.opener(flag)
                self.writable = True

    def close(self) -> None:
        """Close once: some dbm modules close their file descriptor again on a second call, which could
        close a descriptor the process has since reused for another file."""
        with self.lock:
            db, self.db = self.db, None
            try:
                if db is not None:
                    db.close()
            finally:
                self.writer_lock.release()


class DBMStore(SyncBackendStore):
    """A zarr store in a dbm database (``open`` defaults to :func:`dbm.open`).

    Concurrency: one writing process. dbm modules are not thread-safe and several of them lock the file
    per process, so every store on one file in a process shares one handle and one thread lock; a
    writable store takes the file's writer lock (``.<name>.dbm-lock`` beside it) when it opens, so a
    second writing process waits ``lock_timeout`` seconds (0: fails at once) and then raises
    ``StoreLockedError``. Readers take no lock. The parallel writer writes a DBM store serially. dbm.dumb
    appends new values, so a writer killed mid-write leaves the other values readable. Listing reads every
    key (dbm has no ordering).
    """

    supports_multiprocess_writes = False  # one writer per dbm file
    supports_fork = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        flag: str = "c",
        mode: int = 0o666,
        open: Callable[..., Any] | None = None,
        *,
        read_only: bool = False,
        lock_timeout: float = 0.0,
        **open_kwargs: Any,
    ) -> None:
        super().__init__(read_only=read_only or flag == "r")
        if flag[:1] not in ("r", "w", "c", "n"):
            raise ValueError(f"invalid dbm flag {flag!r}: expected 'r', 'w', 'c' or 'n'")
        self.path = os.path.abspath(os.fspath(path))
        self.flag, self.mode = flag, mode
        self.open = open or _dbm.open
        self.open_kwargs = dict(sorted(open_kwargs.items()))
        self.lock_timeout = lock_timeout
        WriterLock(self.path, lock_timeout, kind="dbm")  # checks the timeout now, not at the first write

    def _config(self) -> dict[str, Any]:
        return {"path": self.path, "flag": self.flag, "mode": self.mode, "open": self.open,
                "lock_timeout": self.lock_timeout, **self.open_kwargs}

    def with_read_only(self, read_only: bool = False) -> DBMStore:
        """A new, unopened store on the same file with the given read_only setting."""
        flag = "c" if self.flag in ("r", "n") else self.flag
        return type(self)(**{**self._config(), "flag": flag}, read_only=read_only)

    # ------------------------------------------------------------ handle

    def _opener(self, flag: str) -> Any:
        if flag == "r" and self.open is _dbm.open and _dbm.whichdb(self.path) is None:
            raise FileNotFoundError(f"DBM store {self.path} does not exist")
        flag = flag if flag == "r" else self.flag
        return self.open(self.path, flag, self.mode, **self.open_kwargs)

    def _b_open(self) -> None:
        handle = _DBS.acquire(self.path, lambda: _Handle(self._opener, not self.read_only, self._writer_lock()))
        if not self.read_only and not handle.writable:
            handle.upgrade("c" if self.flag == "n" else self.flag)

    def _writer_lock(self) -> WriterLock:
        return WriterLock(self.path, self.lock_timeout, what="the DBM store", kind="dbm")

    def _b_close(self) -> None:
        if self._is_open:
            _DBS.release(self.path, lambda h: h.close())

    def _handle(self) -> _Handle:
        return _DBS.get(self.path)

    # ------------------------------------------------------------ primitives

    def _b_get(self, key: str, byte_range: ByteRequest | None) -> BytesLike | None:
        h = self._handle()
        with h.lock:
            try:
                value = h.db[key.encode("utf-8")]
            except KeyError:
                return None
        return bytes(slice_value(value, byte_range))

    def _b_exists(self, key: str) -> bool:
        h = self._handle()
        with h.lock:
            return key.encode("utf-8") in h.db

    def _b_set(self, key: str, data: BytesLike) -> None:
        h = self._handle()
        with h.lock:
            h.db[key.encode("utf-8")] = bytes(data)

    def _b_set_many(self, items: list[tuple[str, BytesLike]]) -> None:
        h = self._handle()
        with h.lock:
            for key, data in items:
                h.db[key.encode("utf-8")] = bytes(data)

    def _b_set_if_absent(self, key: str, data: BytesLike) -> None:
        h = self._handle()
        with h.lock:
            if key.encode("utf-8") not in h.db:
                h.db[key.encode("utf-8")] = bytes(data)

    def _b_delete(self, key: str) -> None:
        h = self._handle()
        with h.lock:
            try:
                del h.db[key.encode("utf-8")]
            except KeyError:
                pass

    def _b_list_prefix(self, prefix: str) -> list[str]:
        h = self._handle()
        raw = prefix.encode("utf-8")
        with h.lock:
            keys = [k for k in h.db.keys() if k.startswith(raw)]  # noqa: SIM118 (gdbm objects do not iterate)
        return sorted(k.decode("utf-8") for k in keys)

    def _b_delete_prefix(self, prefix: str) -> None:
        h = self._handle()
        with h.lock:
            for key in self._b_list_prefix(prefix):
                del h.db[key.encode("utf-8")]

    def flush(self) -> None:
        """Write the database's index to disk (``sync`` on modules that have it)."""
        self._ensure_open_sync()
        h = self._handle()
        with h.lock:
            if hasattr(h.db, "sync"):
                h.db.sync()
