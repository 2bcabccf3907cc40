"""Per-container locks of the few-files stores: readers share a container, a writer holds it alone.

Inside a process one readers/writer lock per slot (a hash of the container's path) orders the threads;
across processes the first reader and every writer also lock the slot's file in the hidden directory
``<root>/__nwbzarr.locks/`` through ``portalocker`` (``flock`` on POSIX, ``LockFileEx`` on Windows), so no
module of nwbzarr needs ``fcntl``. A killed holder's lock is dropped by the operating system.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

LOCK_DIR_NAME = "__nwbzarr.locks"  # hidden (reserved prefix): never listed as keys, never cleared
_LOCK_SLOTS = 1024  # lock files per store at most; two containers of one slot merely wait for each other

_GUARD = threading.Lock()
_THREAD_LOCKS: dict[tuple[str, int], _SlotLock] = {}
_OPEN_LOCK_FDS: set[int] = set()  # descriptors of the slot files held now: a forked child closes its copies


def _after_fork_in_child() -> None:
    """A forked child holds none of its parent's locks: forget the parent threads' in-process locks and
    close the inherited slot files (an flock lives as long as any copy of its file stays open)."""
    global _GUARD
    _GUARD = threading.Lock()
    _THREAD_LOCKS.clear()
    for fd in list(_OPEN_LOCK_FDS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _OPEN_LOCK_FDS.clear()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _slot(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little") % _LOCK_SLOTS


def _locker() -> Any:
    """The platform's portalocker locker (flock on POSIX; msvcrt, and pywin32 for shared locks, on
    Windows), imported on first use: without an OS file lock only ``lock="file"`` fails, saying what to use.
    Called through its instance, a lock and unlock cost half what ``portalocker.lock`` costs (measured: 11 vs
    22 us, mostly its flag checks)."""
    global _LOCKER
    if _LOCKER is None:
        try:
            from portalocker import portalocker as pl
        except ImportError as err:
            raise RuntimeError(
                "lock='file' needs operating-system file locks (portalocker: fcntl on POSIX, msvcrt/pywin32 "
                f"on Windows), which this Python lacks ({err}); pass lock=None (one process) or a lock "
                "object such as distributed.Lock") from err
        _LOCKER = pl.MsvcrtLocker() if os.name == "nt" else pl.PosixLocker()
    return _LOCKER


_LOCKER: Any = None


class _SlotLock:
    """In-process readers/writer lock for one slot; the first reader takes the external shared lock."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.readers = 0
        self.writer = False
        self.shared_hold: contextlib.ExitStack | None = None

    @contextlib.contextmanager
    def shared(self, external: Callable[[], contextlib.AbstractContextManager]) -> Iterator[None]:
        with self.cond:
            while self.writer:
                self.cond.wait()
            if self.readers == 0:
                stack = contextlib.ExitStack()
                stack.enter_context(external())
                self.shared_hold = stack
            self.readers += 1
        try:
            yield
        finally:
            with self.cond:
                self.readers -= 1
                if self.readers == 0 and self.shared_hold is not None:
                    self.shared_hold.close()
                    self.shared_hold = None
                    self.cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self, external: Callable[[], contextlib.AbstractContextManager]) -> Iterator[None]:
        with self.cond:
            while self.writer or self.readers:
                self.cond.wait()
            self.writer = True
        try:
            with external():
                yield
        finally:
            with self.cond:
                self.writer = False
                self.cond.notify_all()


def _thread_lock(lock_dir: Path, slot: int) -> _SlotLock:
    with _GUARD:
        return _THREAD_LOCKS.setdefault((str(lock_dir), slot), _SlotLock())


LockSpec = Any  # "file" | None | object with acquire()/release() | callable(name) -> such an object


def lock_token(lock: LockSpec) -> Any:
    """A comparable stand-in for a lock setting, so stores compare equal by configuration."""
    if lock is None or isinstance(lock, str):
        return lock
    if isinstance(lock, type):
        return ("factory", lock.__module__, lock.__qualname__)
    return ("object", type(lock).__qualname__, getattr(lock, "name", id(lock)))


def validate_lock(lock: LockSpec) -> None:
    """Reject lock settings that would silently give no protection."""
    if lock is None or lock == "file":
        return
    if isinstance(lock, str):
        raise ValueError(f"lock must be 'file', None, a lock object or a lock factory; got {lock!r}")
    if not (hasattr(lock, "acquire") and hasattr(lock, "release")) and not callable(lock):
        raise TypeError(f"lock object {lock!r} has no acquire()/release() and is not a factory")


def _open_slot_file(lock_dir: Path, slot: int, writable: bool) -> int | None:
    """A descriptor of the slot's lock file (a writer creates it); None when a reader needs no lock:
    without the file no writer has locked that slot, and a read-only store never creates files."""
    path = os.path.join(lock_dir, f"{slot}.lock")
    if not writable:
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except FileNotFoundError:  # the first lock taken in this store
        lock_dir.mkdir(exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)


def _lock_waiting(locker: Any, fd: int, shared: bool) -> None:
    """Take the lock, however long it takes: Windows' msvcrt gives up after 10 s of waiting, so wait on."""
    from portalocker import AlreadyLocked, LockFlags

    flags = LockFlags.SHARED if shared else LockFlags.EXCLUSIVE
    while True:
        try:
            locker.lock(fd, flags)
            return
        except AlreadyLocked:  # pragma: no cover - Windows
            continue


@contextlib.contextmanager
def _file_lock(lock_dir: Path, slot: int, shared: bool, writable: bool) -> Iterator[None]:
    """Hold the slot's file lock (shared or exclusive) across processes."""
    fd = _open_slot_file(lock_dir, slot, writable)
    if fd is None:  # a reader where no writer has locked: no OS lock needed
        yield
        return
    _OPEN_LOCK_FDS.add(fd)
    try:
        locker = _locker()
        _lock_waiting(locker, fd, shared)
        try:
            yield
        finally:
            locker.unlock(fd)
    finally:
        _OPEN_LOCK_FDS.discard(fd)
        os.close(fd)


class ContainerLocks:
    """Exclusive access to one container across threads, processes and (optionally) cluster workers."""

    def __init__(self, root: Path, lock: LockSpec, writable: bool) -> None:
        self.root = root
        self.lock = lock
        self.writable = writable
        self.lock_dir = root / LOCK_DIR_NAME
        if lock == "file" and writable:
            _locker()  # a writer without OS file locks fails here, before it writes anything

    @contextlib.contextmanager
    def hold(self, container: str, shared: bool = False) -> Iterator[None]:
        """Hold ``container`` (relative path): shared for reads, exclusive for writes."""
        slot = _slot(container)
        local = _thread_lock(self.lock_dir, slot)
        mode = local.shared if shared else local.exclusive
        with mode(lambda: self._external(container, slot, shared)):
            yield

    @contextlib.contextmanager
    def _external(self, container: str, slot: int, shared: bool) -> Iterator[None]:
        if self.lock is None:
            yield
        elif self.lock == "file":
            with _file_lock(self.lock_dir, slot, shared, self.writable):
                yield
        else:
            with _cluster_lock(self.lock, f"nwbzarr:{self.root}/{container}"):
                yield


@contextlib.contextmanager
def _cluster_lock(lock: Any, name: str) -> Iterator[None]:
    """Acquire a pluggable lock (an object, or a factory called with the container name); failures raise."""
    obj = lock if hasattr(lock, "acquire") and not isinstance(lock, type) else _call_factory(lock, name)
    if obj.acquire() is False:
        raise TimeoutError(f"could not acquire lock {obj!r} for {name}")
    try:
        yield
    finally:
        obj.release()


def _call_factory(factory: Callable[[str], Any], name: str) -> Any:
    obj = factory(name)
    if not (hasattr(obj, "acquire") and hasattr(obj, "release")):
        raise TypeError(f"lock factory {factory!r} returned {obj!r}, which has no acquire()/release()")
    return obj
