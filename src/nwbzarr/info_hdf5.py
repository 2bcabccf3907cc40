"""``nwbzarr info`` for HDF5 files: the same tree as for a Zarr store (types, shapes, dtypes, chunks,
filters, stored and logical sizes, links), read from the file's metadata with h5py, no data read."""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from .convert_hdf5 import hdf5_source, remote_hdf5_signature
from .format.base import MAX_NODE_DEPTH, ResourceLimitError
from .info_nodes import LinkSummary, NodeSummary

TEXT_ITEM_BYTES = 16  # what a Zarr summary counts per text or reference element (never shown as a size)
# HDF5 filter ids named as the Zarr summary names the equivalent codec
FILTER_NAMES = {h5py.h5z.FILTER_DEFLATE: "gzip", h5py.h5z.FILTER_SHUFFLE: "shuffle",
                h5py.h5z.FILTER_FLETCHER32: "fletcher32", h5py.h5z.FILTER_SZIP: "szip",
                h5py.h5z.FILTER_NBIT: "nbit", h5py.h5z.FILTER_SCALEOFFSET: "scaleoffset", 32000: "lzf",
                32001: "blosc", 32004: "lz4", 32008: "bitshuffle", 32015: "zstd"}


def summarise_hdf5(path_or_file: Any) -> list[NodeSummary]:
    """One ``NodeSummary`` per group and dataset of an HDF5 file (a name or a file object), in path order;
    soft, external and extra hard links are listed on the group holding them."""
    with h5py.File(path_or_file, "r") as fh:
        summaries = _walk(fh)
    return sorted(summaries, key=lambda s: s.path)


def summarise_remote_hdf5(url: str, storage_options: dict | None) -> list[NodeSummary] | None:
    """The summary of an HDF5 file at a URL (read through fsspec), or None when it is not one."""
    if not remote_hdf5_signature(url, storage_options):
        return None
    with hdf5_source(url, storage_options) as handle:
        return summarise_hdf5(handle)


def _walk(fh: h5py.File) -> list[NodeSummary]:
    """Every object reached by a hard link, once (an object's second name is reported as a link)."""
    seen: dict[int, str] = {h5py.h5o.get_info(fh.id).addr: "/"}
    out: list[NodeSummary] = []
    stack: list[tuple[h5py.Group, str]] = [(fh, "")]
    while stack:
        group, path = stack.pop()
        if path.count("/") >= MAX_NODE_DEPTH:
            raise ResourceLimitError(f"{fh.filename}: group /{path[:80]}... is nested more than "
                                     f"{MAX_NODE_DEPTH} groups deep; nwbzarr reads at most {MAX_NODE_DEPTH} levels")
        links: list[LinkSummary] = []
        for name in group:
            child = f"{path}/{name}" if path else name
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.SoftLink):
                links.append(LinkSummary(name, ".", link.path))
                continue
            if isinstance(link, h5py.ExternalLink):
                links.append(LinkSummary(name, link.filename, link.path))
                continue
            obj = group[name]
            addr = h5py.h5o.get_info(obj.id).addr
            if addr in seen:
                links.append(LinkSummary(name, ".", seen[addr]))
                continue
            seen[addr] = "/" + child
            if isinstance(obj, h5py.Group):
                stack.append((obj, child))
            elif isinstance(obj, h5py.Dataset):
                out.append(_dataset_summary(child, obj))
        out.append(NodeSummary(path, "group", _type_of(group), None, None, None, [], 0, 0, links))
    return out


def _type_of(obj: h5py.Group | h5py.Dataset) -> str | None:
    value = obj.attrs.get("neurodata_type")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


def _dataset_summary(path: str, ds: h5py.Dataset) -> NodeSummary:
    label, itemsize = _dtype_of(ds.dtype)
    shape = tuple(ds.shape) if ds.shape is not None else ()
    return NodeSummary(
        path=path, kind="array", neurodata_type=_type_of(ds), shape=shape, dtype=label,
        chunks=tuple(ds.chunks) if ds.chunks else None, codecs=_filter_names(ds),
        stored_bytes=int(ds.id.get_storage_size()), logical_bytes=int(np.prod(shape)) * itemsize,
    )


def _dtype_of(dt: np.dtype) -> tuple[str, int]:
    """The label and element size a Zarr summary gives the same data (text "str", references "reference")."""
    if h5py.check_string_dtype(dt) is not None and dt.kind == "O":
        return "str", TEXT_ITEM_BYTES
    if h5py.check_ref_dtype(dt) is not None:
        return "reference", TEXT_ITEM_BYTES
    if dt.names:
        return "compound(" + ", ".join(dt.names) + ")", dt.itemsize
    if h5py.check_vlen_dtype(dt) is not None:
        return f"vlen({h5py.check_vlen_dtype(dt).name})", TEXT_ITEM_BYTES
    return dt.name, dt.itemsize


def _filter_names(ds: h5py.Dataset) -> list[str]:
    plist = ds.id.get_create_plist()
    names = []
    for index in range(plist.get_nfilters()):
        code, _flags, _values, name = plist.get_filter(index)
        names.append(FILTER_NAMES.get(code) or name.decode("ascii", "replace") or f"filter-{code}")
    return names
