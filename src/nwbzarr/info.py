"""A tree summary of a store: neurodata types, shapes, dtypes, chunks, codecs, stored and logical sizes."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._private_api import bounded_map, sync
from .backend.location import open_location
from .format.attributes import INCOMPLETE_ATTR
from .format.base import FormatError, NodeInfo
from .format.corrupt import with_store
from .format.detect import detect_layout
from .info_nodes import LinkSummary, NodeSummary, format_tree, to_json
from .storage.url import is_hdf5_file, is_url

__all__ = ["LinkSummary", "NodeSummary", "format_tree", "summarise", "summarise_file", "to_json"]


def summarise(path: Any, storage_options: dict | None = None) -> list[NodeSummary]:
    """One ``NodeSummary`` per node, in path order, of a Zarr store or an HDF5 file."""
    return summarise_file(path, storage_options)[1]


def summarise_file(path: Any, storage_options: dict | None = None) -> tuple[str, list[NodeSummary]]:
    """``(format, summaries)``: "hdf5" for an HDF5 file (local, or remote by its signature), else "zarr"."""
    if is_hdf5_file(path):
        from .info_hdf5 import summarise_hdf5

        return "hdf5", summarise_hdf5(path)
    store, _ = open_location(path, True, storage_options)
    layout = sync(detect_layout(store))
    if layout is None:
        if isinstance(path, str) and is_url(path):
            from .info_hdf5 import summarise_remote_hdf5

            summaries = summarise_remote_hdf5(path, storage_options)
            if summaries is not None:
                return "hdf5", summaries
        raise FormatError(f"{str(path)!r} is neither an HDF5 file nor a Zarr store "
                          "(nwbzarr info reads NWB HDF5 files and Zarr stores)")
    return "zarr", _zarr_summaries(path, store, layout)


def _zarr_summaries(path: Any, store: Any, layout: Any) -> list[NodeSummary]:
    try:
        nodes = sync(layout.load_nodes(store))
    except FormatError as exc:
        raise with_store(exc, repr(str(path))) from exc
    sizes = sync(_stored_sizes(store))
    return [_summary(node, sizes) for _, node in sorted(nodes.items())]


async def _stored_sizes(store: Any) -> dict[str, int]:
    keys = [k async for k in store.list_prefix("")]

    async def size(key: str) -> int:
        try:
            return await store.getsize(key)
        except (FileNotFoundError, NotImplementedError):
            return 0

    return dict(zip(keys, await bounded_map(((k,) for k in keys), size)))  # zarr's async.concurrency


def _summary(node: NodeInfo, sizes: dict[str, int]) -> NodeSummary:
    doc = node.document
    prefix = f"{node.path}/" if node.path else ""
    if node.kind == "group":
        return NodeSummary(node.path, "group", node.attrs.get("neurodata_type"), None, None, None, [], 0, 0,
                           [LinkSummary(n, r.source, r.path) for n, r in node.links])
    stored = sum(v for k, v in sizes.items() if k.startswith(prefix) and _is_chunk_key(k[len(prefix):]))
    error = getattr(node, "error", None)
    if error is not None:
        return NodeSummary(node.path, "array", node.attrs.get("neurodata_type"), None, None, None, [], stored, 0,
                           [], error=error)
    shape = tuple(doc.get("shape", ()))
    dtype_label, itemsize = _dtype_of(doc, node)
    return NodeSummary(
        path=node.path,
        kind="array",
        neurodata_type=node.attrs.get("neurodata_type"),
        shape=shape,
        dtype=dtype_label,
        chunks=_chunks_of(doc),
        codecs=_codec_names(doc),
        stored_bytes=stored,
        logical_bytes=int(np.prod(shape)) * itemsize if shape else itemsize,
        links=[],
        incomplete=bool(node.attrs.get(INCOMPLETE_ATTR)),
    )


METADATA_NAMES = {"zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"}


def _is_chunk_key(rest: str) -> bool:
    """Chunk keys of the array itself (``c/0/0``, ``c``, ``0.0``, ``0/0``), never metadata documents."""
    if rest.rsplit("/", 1)[-1] in METADATA_NAMES:
        return False
    return rest == "c" or rest.startswith("c/") or rest[:1].isdigit()


def _dtype_of(doc: dict, node: NodeInfo) -> tuple[str, int]:
    if node.is_reference:
        return "reference", 16
    dt = doc.get("data_type", doc.get("dtype"))
    if isinstance(dt, str):
        if dt in ("string", "|O", "object"):
            return "str", 16
        try:
            npd = np.dtype(dt)
            return npd.name, npd.itemsize
        except TypeError:
            return dt, 8
    if isinstance(dt, dict) and dt.get("name") in ("null_terminated_bytes", "fixed_length_bytes"):
        npd = np.dtype(f"S{int(dt['configuration']['length_bytes'])}")  # fixed-length text kept by convert
        return npd.name, npd.itemsize
    if isinstance(dt, dict):
        from .format.v3 import numpy_dtype_of_struct

        npd = numpy_dtype_of_struct(dt)
        return "compound(" + ", ".join(npd.names) + ")", npd.itemsize
    if isinstance(dt, list):
        npd = np.dtype([tuple(f[:2]) for f in dt])
        return "compound(" + ", ".join(npd.names) + ")", npd.itemsize
    return str(dt), 8


def _chunks_of(doc: dict) -> tuple[int, ...] | None:
    if "chunks" in doc:
        return tuple(doc["chunks"])
    grid = doc.get("chunk_grid", {}).get("configuration", {}).get("chunk_shape")
    for codec in doc.get("codecs", []):
        if isinstance(codec, dict) and codec.get("name") == "sharding_indexed":
            inner = codec["configuration"]["chunk_shape"]
            return tuple(inner)
    return tuple(grid) if grid is not None else None


def _codec_names(doc: dict) -> list[str]:
    names = []
    for codec in doc.get("codecs", []):
        if isinstance(codec, dict):
            name = codec.get("name", "?")
            conf = codec.get("configuration") or {}
            if name == "sharding_indexed":
                names.append("sharding(" + ",".join(_codec_names({"codecs": conf.get("codecs", [])})) + ")")
            elif name == "blosc":
                names.append(f"blosc-{conf.get('cname')}")
            elif name != "bytes":
                names.append(name)
    for f in doc.get("filters") or []:
        names.append(f.get("id", "?"))
    if doc.get("compressor"):
        comp = doc["compressor"]
        names.append(comp.get("id", "?") + (f"-{comp['cname']}" if "cname" in comp else ""))
    return names
