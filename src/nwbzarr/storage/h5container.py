"""``H5ContainerStore``: a zarr 3 directory store that keeps the chunks of each index group in one HDF5 file.

Layout (``depth=3``, v3 array ``a`` of 4 dims): metadata stays ``a/zarr.json``; chunk ``a/c/1/2/3/4`` lives
in ``a/c/1/2.h5`` as dataset ``"3.4"``. Arrays of fewer dims than ``depth`` keep one container
``a/c.h5`` inside their own directory. Each chunk is a 1-D ``uint8`` dataset without HDF5 filters (zarr
already compressed it), so byte ranges are cheap and sharded arrays work. Containers written by CBI's
``H5_Nested_Store`` (scalar opaque datasets named by dotted indices) are read as well.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from zarr.abc.store import ByteRequest

from nwbzarr.storage._container_locks import LockSpec
from nwbzarr.storage._fewfiles import ContainerStore, ItemSource
from nwbzarr.storage.base import resolve_range
from nwbzarr.storage.errors import StoreCorruptError

__all__ = ["H5ContainerStore"]

SESSION_ATTR = "nwbzarr_session"


def _open(path: Path, mode: str) -> h5py.File | None:
    """Open a container with HDF5 file locking off (we lock ourselves); None if it does not exist."""
    try:
        return h5py.File(path, mode, locking=False)
    except FileNotFoundError:
        return None
    except (PermissionError, IsADirectoryError):
        raise
    except OSError as exc:  # truncated, overwritten, not HDF5 at all
        raise _damaged(path, str(exc)) from exc


def _damaged(path: Path | str, why: str) -> StoreCorruptError:
    return StoreCorruptError(f"HDF5 container {path} is damaged ({why}); the chunks it holds cannot be read "
                             "(restore it from a copy)")


def _dataset(f: h5py.File, member: str) -> h5py.Dataset | None:
    obj = f.get(member)
    if obj is None:
        return None
    if not isinstance(obj, h5py.Dataset):
        raise _damaged(f.filename, f"{member!r} is a group, not a chunk dataset")
    return obj


def _read_dataset(ds: h5py.Dataset, byte_range: ByteRequest | None) -> bytes:
    """Bytes of a chunk dataset: 1-D uint8 (ours) or scalar opaque (CBI's), reading only the range."""
    if ds.shape == ():
        raw = np.asarray(ds[()]).tobytes()
        start, stop = resolve_range(len(raw), byte_range)
        return raw[start:stop]
    if ds.ndim != 1 or ds.dtype.itemsize != 1:
        raise _damaged(ds.file.filename, f"dataset {ds.name!r} is not a byte chunk ({ds.dtype}, {ds.shape})")
    start, stop = resolve_range(ds.shape[0], byte_range)
    if stop <= start:
        return b""
    offset = ds.id.get_offset() if ds.chunks is None else None
    if offset is None:
        return ds[start:stop].tobytes()
    return _pread(ds.file.filename, offset + start, stop - start)


# O_CLOEXEC is POSIX's (Windows fds are not inherited anyway); O_BINARY is Windows' (no newline translation)
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _read_at(fd: int, size: int, offset: int) -> bytes:
    """``os.pread`` where there is one; elsewhere (Windows) seek and read this call's own descriptor."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
    return os.read(fd, size)  # pragma: no cover - Windows


def _pread(filename: str, offset: int, size: int) -> bytes:
    """Read raw bytes of a contiguous dataset without HDF5's (globally locked) data path."""
    fd = os.open(filename, _READ_FLAGS)
    try:
        data = _read_at(fd, size, offset)
    finally:
        os.close(fd)
    if len(data) != size:
        raise _damaged(filename, f"truncated: {len(data)} of {size} bytes at offset {offset}")
    return data


def _dataset_size(ds: h5py.Dataset) -> int:
    return ds.dtype.itemsize if ds.shape == () else int(ds.shape[0])


def _as_u1(data: Any) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


def _put(f: h5py.File, member: str, arr: np.ndarray) -> None:
    """Write one chunk dataset, in place when the size is unchanged."""
    ds = f.get(member)
    if isinstance(ds, h5py.Dataset) and ds.shape == arr.shape and ds.dtype == np.uint8 and ds.chunks is None:
        if arr.size:
            ds[...] = arr
        return
    if ds is not None:
        del f[member]
    f.create_dataset(member, data=arr)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class H5ContainerStore(ContainerStore):
    """Directory store putting the chunks of each group of trailing indices into one HDF5 container.

    ``depth``: trailing chunk indices per container path + member name (3: one file per leading index
    tuple, members named by the last two indices). ``write_direct``: chunks go straight into containers
    (False: loose files, exactly a directory store, until ``consolidate()``); an array that is a single
    chunk keeps it as a plain file (a container would save no file and cost an HDF5 file); HDF5 files are not
    crash-safe, so only containers created by this write session (this store and its pickled copies in
    worker processes) are changed in place: a chunk for an older container is written as a loose file
    (atomically) until ``consolidate()`` folds it in, and deletes rebuild it, so a writer killed at any
    moment never damages data written before its session. ``lock``: ``"file"``
    (a lock file per container slot in ``__nwbzarr.locks/``, through portalocker: across processes on
    one host, or NFS with lockd), ``None`` (threads only), a
    lock object with ``acquire``/``release`` (one lock for all containers, e.g. ``distributed.Lock("x")``)
    or a factory called with a per-container name (e.g. ``distributed.Lock``).
    """

    suffix = ".h5"
    scheme = "h5container"

    def __init__(
        self,
        root: Path | str,
        depth: int = 3,
        write_direct: bool = True,
        lock: LockSpec = "file",
        read_only: bool = False,
    ) -> None:
        super().__init__(root, depth=depth, write_direct=write_direct, lock=lock, read_only=read_only)
        self._session_of: dict[str, tuple[int, bool]] = {}  # container -> (inode, created by this session)

    def _c_read(self, path: Path, member: str, byte_range: ByteRequest | None) -> bytes | None:
        f = _open(path, "r")
        if f is None:
            return None
        with f:
            ds = _dataset(f, member)
            return None if ds is None else _read_dataset(ds, byte_range)

    def _c_size(self, path: Path, member: str) -> int | None:
        f = _open(path, "r")
        if f is None:
            return None
        with f:
            ds = _dataset(f, member)
            return None if ds is None else _dataset_size(ds)

    def _c_members(self, path: Path) -> list[str]:
        f = _open(path, "r")
        if f is None:
            return []
        with f:
            return [name for name, obj in f.items() if isinstance(obj, h5py.Dataset)]

    def _c_in_place_ok(self, path: Path) -> bool:
        """HDF5 is not crash-safe: only containers this write session created are changed in place (a
        kill then damages nothing written before the session); others get loose chunks, or are rebuilt."""
        try:
            inode = path.stat().st_ino
        except FileNotFoundError:
            return True
        known = self._session_of.get(str(path))
        if known is not None and known[0] == inode:  # a rebuild renames a new file (new inode) into place
            return known[1]
        f = _open(path, "r")
        if f is None:
            return True
        with f:
            ours = f.attrs.get(SESSION_ATTR) == self._session
        self._session_of[str(path)] = (inode, ours)
        return ours

    def _c_update(self, path: Path, puts: dict[str, Any], deletes: Iterable[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "a", locking=False) as f:
            if not f.attrs.keys() and not f.keys():  # created just now: this session's own
                f.attrs[SESSION_ATTR] = self._session
            for member in deletes:
                if member in f:
                    del f[member]
            for member, data in puts.items():
                _put(f, member, _as_u1(data))

    def _c_build(self, path: Path, items: Iterable[tuple[str, ItemSource]]) -> None:
        with h5py.File(path, "w", locking=False) as f:
            for member, source in items:
                f.create_dataset(member, data=_as_u1(source()))
            f.flush()
        _fsync_path(path)
