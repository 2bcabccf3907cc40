"""A tree summary of a store: neurodata types, shapes, dtypes, chunks, codecs, stored and logical sizes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._private_api import bounded_map, sync
from .backend.location import open_location
from .format.attributes import INCOMPLETE_ATTR
from .format.base import FormatError, NodeInfo
from .format.corrupt import with_store
from .format.detect import detect_layout


@dataclass
class NodeSummary:
    path: str
    kind: str
    neurodata_type: str | None
    shape: tuple[int, ...] | None
    dtype: str | None
    chunks: tuple[int, ...] | None
    codecs: list[str]
    stored_bytes: int
    logical_bytes: int
    links: list[str]
    incomplete: bool = False
    error: str | None = None  # a legacy dataset whose metadata cannot be used: why


def summarise(path: Any, storage_options: dict | None = None) -> list[NodeSummary]:
    """One ``NodeSummary`` per node, in path order."""
    store, _ = open_location(path, True, storage_options)
    layout = sync(detect_layout(store))
    if layout is None:
        raise ValueError(f"{path!r} is not a Zarr store")
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
                           [f"{n} -> {r.source}:{r.path}" for n, r in node.links])
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


def format_tree(summaries: list[NodeSummary]) -> str:
    """The summary as an indented tree, one line per node."""
    lines = []
    specs = sorted({"/".join(s.path.split("/")[1:3]).replace("/", " ") for s in summaries
                    if s.path.startswith("specifications/") and s.path.count("/") >= 2})
    for s in summaries:
        if s.path.startswith("specifications/"):
            continue
        if s.path == "specifications":
            lines.append(f"  specifications/  (cached: {', '.join(specs)})")
            continue
        depth = s.path.count("/") + 1 if s.path else 0
        name = s.path.rsplit("/", 1)[-1] if s.path else ""
        typ = f" <{s.neurodata_type}>" if s.neurodata_type else ""
        if s.kind == "group":
            lines.append(f"{'  ' * depth}{name}/{typ}")
            for link in s.links:
                lines.append(f"{'  ' * (depth + 1)}{link}  (link)")
        elif s.error is not None:
            lines.append(f"{'  ' * depth}{name}{typ}  UNREADABLE: {s.error}")
        else:
            codecs = "+".join(s.codecs) or "raw"
            flag = "  [INCOMPLETE]" if s.incomplete else ""
            lines.append(
                f"{'  ' * depth}{name}{typ}  {s.dtype} {list(s.shape)} chunks={list(s.chunks or [])} "
                f"{codecs}  {_human(s.stored_bytes)} stored"
                + (f" / {_human(s.logical_bytes)}" if s.dtype not in ("str", "reference") else "") + flag
            )
    return "\n".join(lines)


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
