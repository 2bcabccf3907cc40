"""``ZipContainerStore``: the archival sibling of ``H5ContainerStore``, one uncompressed zip per index group.

Same routing, layout and listing rules as ``H5ContainerStore`` with ``.zip`` containers whose members are
named by dotted trailing indices and stored uncompressed (zarr already compressed them), so a byte range
is one seek. Zips are written once: by default chunks land as loose files and ``consolidate()`` packs
them (kill-safe); with ``write_direct=True`` every chunk write rebuilds its container atomically
(temp + rename), which costs the container's size per write.
"""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from zarr.abc.store import ByteRequest

from nwbzarr.storage._container_locks import LockSpec
from nwbzarr.storage._fewfiles import ContainerStore, ItemSource
from nwbzarr.storage._files import fsync_dir, tmp_path_for
from nwbzarr.storage.base import resolve_range

__all__ = ["ZipContainerStore"]

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_MAGIC = b"PK\x03\x04"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _open(path: Path) -> zipfile.ZipFile | None:
    """Open a container for reading; None if it does not exist (a corrupt one raises)."""
    try:
        return zipfile.ZipFile(path, "r")
    except FileNotFoundError:
        return None


def _data_offset(fp: Any, info: zipfile.ZipInfo) -> int:
    """File offset of a stored member's data, from its local header."""
    fp.seek(info.header_offset)
    header = fp.read(_LOCAL_HEADER.size)
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != _LOCAL_MAGIC:
        raise zipfile.BadZipFile(f"bad local header for member {info.filename!r}")
    name_len, extra_len = fields[-2], fields[-1]
    return info.header_offset + _LOCAL_HEADER.size + name_len + extra_len


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, byte_range: ByteRequest | None) -> bytes:
    start, stop = resolve_range(info.file_size, byte_range)
    if info.compress_type != zipfile.ZIP_STORED or byte_range is None:
        data = zf.read(info)  # checks the CRC
        return data[start:stop]
    fp = zf.fp
    assert fp is not None
    fp.seek(_data_offset(fp, info) + start)
    return fp.read(stop - start)


def _zipinfo(member: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(member, date_time=_EPOCH)  # reproducible archives
    info.compress_type = zipfile.ZIP_STORED
    return info


def _write_zip(path: Path, items: Iterable[tuple[str, ItemSource]]) -> None:
    """Write a complete stored-only zip and flush it to disk."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for member, source in items:
            zf.writestr(_zipinfo(member), bytes(source()))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ZipContainerStore(ContainerStore):
    """Directory store putting the chunks of each group of trailing indices into one stored-only zip.

    Arguments as for ``H5ContainerStore``; ``write_direct`` defaults to False (write loose, then
    ``consolidate()``), since each direct write rebuilds a whole container.
    """

    suffix = ".zip"
    scheme = "zipcontainer"

    def __init__(
        self,
        root: Path | str,
        depth: int = 3,
        write_direct: bool = False,
        lock: LockSpec = "file",
        read_only: bool = False,
    ) -> None:
        super().__init__(root, depth=depth, write_direct=write_direct, lock=lock, read_only=read_only)

    def _c_read(self, path: Path, member: str, byte_range: ByteRequest | None) -> bytes | None:
        zf = _open(path)
        if zf is None:
            return None
        with zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                return None
            return _read_member(zf, info, byte_range)

    def _c_size(self, path: Path, member: str) -> int | None:
        zf = _open(path)
        if zf is None:
            return None
        with zf:
            try:
                return zf.getinfo(member).file_size
            except KeyError:
                return None

    def _c_members(self, path: Path) -> list[str]:
        zf = _open(path)
        if zf is None:
            return []
        with zf:
            return [name for name in zf.namelist() if not name.endswith("/")]

    def _c_update(self, path: Path, puts: dict[str, Any], deletes: Iterable[str]) -> None:
        """Rebuild the container with the changes in a temporary file, then rename it into place."""
        dropped = set(deletes) | set(puts)
        zf = _open(path)
        try:
            kept = [n for n in zf.namelist() if n not in dropped and not n.endswith("/")] if zf else []
            items: list[tuple[str, ItemSource]] = [(n, _member_loader(zf, n)) for n in kept]
            items += [(n, _bytes_source(v)) for n, v in puts.items()]
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = tmp_path_for(path)
            try:
                _write_zip(tmp, sorted(items))
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        finally:
            if zf is not None:
                zf.close()
        fsync_dir(path.parent)

    def _c_build(self, path: Path, items: Iterable[tuple[str, ItemSource]]) -> None:
        _write_zip(path, items)


def _member_loader(zf: zipfile.ZipFile | None, name: str) -> ItemSource:
    assert zf is not None
    return lambda: zf.read(name)


def _bytes_source(value: Any) -> ItemSource:
    return lambda: bytes(value)
