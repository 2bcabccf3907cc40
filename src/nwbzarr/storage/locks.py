"""Writer locks: one writer per store, across processes (``filelock``: flock on POSIX, LockFileEx on Windows).

A store on the local file system is locked through a hidden sidecar file beside it
(``<dir>/.<name>.nwbzarr-lock``), never inside it, so that clearing the store (mode ``w``) cannot remove the
lock. The holder writes its process id and host into the file, so that a refused writer can say who
holds it. The lock is released when the holder releases it or its process ends (the operating system drops
the lock of a dead process); the file itself stays, empty of meaning, so that waiters share one inode.
Stores elsewhere (Redis, MongoDB, object stores) have no sidecar: a store may offer its own lock with an
``acquire_writer_lock(timeout, what)`` method; see docs/reliability.md, "Concurrency".
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock, SoftFileLock, Timeout

from nwbzarr._private_api import wrapped_store

from ..errors import StoreLockedError

__all__ = ["StoreLockedError", "WriterLock", "acquire_store_lock", "check_lock_timeout", "lock_path",
           "store_lock_target"]


# filelock's FileLock is an OS lock where the platform has one (flock, LockFileEx); elsewhere (a POSIX Python
# without fcntl) its soft lock, whose file holds filelock's own PID marker: then we record no holder in it
_NATIVE_LOCK = not issubclass(FileLock, SoftFileLock)


def check_lock_timeout(timeout: float) -> float:
    """A lock timeout in seconds (0: fail at once, negative: wait for ever), or a TypeError naming it."""
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        raise TypeError(f"lock timeout must be a number of seconds, not {timeout!r}")
    return float(timeout)


class Releasable(Protocol):
    def release(self) -> None: ...


def lock_path(target: str | os.PathLike[str], kind: str = "nwbzarr") -> str:
    """The sidecar lock file of a store at ``target`` (a directory or file): hidden, beside it."""
    target = os.path.abspath(os.fspath(target)).rstrip(os.sep) or os.sep
    parent, name = os.path.split(target)
    return os.path.join(parent, f".{name}.{kind}-lock")


def _record_holder(fd: int) -> None:
    """Called by filelock once the lock is ours: write who holds it, for the message of a refused writer."""
    text = f"pid {os.getpid()} on host {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode("utf-8"))


def _read_holder(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(200).strip() or "another process"
    except OSError:  # Windows forbids reading a locked region
        return "another process"


class WriterLock:
    """The writer lock of the store at ``target``: ``acquire()`` waits up to ``timeout`` seconds (0: fail at
    once, negative: wait for ever) and raises ``StoreLockedError`` naming the holder."""

    def __init__(self, target: str | os.PathLike[str], timeout: float = 0.0, what: str = "store",
                 kind: str = "nwbzarr") -> None:
        self.timeout = check_lock_timeout(timeout)
        self.target = os.path.abspath(os.fspath(target))
        self.path = lock_path(self.target, kind)
        self.what = what
        recorder = {"on_acquired": _record_holder} if _NATIVE_LOCK else {}
        self._lock = FileLock(self.path, timeout=self.timeout, thread_local=False, **recorder)

    def acquire(self) -> WriterLock:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            holder = _read_holder(self.path)
            waited = "" if self.timeout == 0 else f" after waiting {self.timeout:g} s"
            raise StoreLockedError(
                f"{self.what} {self.target!r} is being written by {holder}{waited}: only one writer at a time "
                f"(lock file {self.path!r}). Close the other writer first, or pass lock_timeout=<seconds> to "
                "wait for it") from None
        return self

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)

    @property
    def is_locked(self) -> bool:
        return self._lock.is_locked


def store_lock_target(store: Any) -> str | None:
    """The local path whose sidecar locks ``store`` for writing, or None for stores that are not local files
    (wrappers answer for the store they wrap)."""
    from zarr.storage import FsspecStore, LocalStore, WrapperStore

    if isinstance(store, LocalStore):
        return str(store.root)
    if isinstance(store, WrapperStore):
        return store_lock_target(wrapped_store(store))
    if isinstance(store, FsspecStore):
        protocol = store.fs.protocol
        protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
        return store.path if {"file", "local"} & set(protocols) else None
    for name in ("path", "root"):  # nwbzarr's SQLite, LMDB, DBM and container stores, zarr's ZipStore
        value = getattr(store, name, None)
        if isinstance(value, os.PathLike) or (isinstance(value, str) and os.path.isabs(value)):
            return os.path.abspath(os.fspath(value))
    return None


def acquire_store_lock(store: Any, timeout: float = 0.0) -> Releasable | None:
    """Take the writer lock of ``store`` (its own, or a sidecar beside its local path); None when the store
    can be locked neither way. A directory where no lock file can be created gives a warning, not an error."""
    own = getattr(store, "acquire_writer_lock", None)
    if callable(own):
        return own(timeout)
    target = store_lock_target(store)
    if target is None:
        return None
    lock = WriterLock(target, timeout, what="the Zarr store")
    try:
        return lock.acquire()
    except PermissionError as exc:
        warnings.warn(f"cannot create the writer lock {lock.path!r} ({exc}); writing {target!r} without one: "
                      "another process writing it at the same time would go undetected", stacklevel=3)
        return None

