"""What ``nwbzarr info`` reports about one node, for Zarr stores and HDF5 files alike, and its two renderings:
an indented tree for people and JSON with stable keys for programs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

INFO_JSON_VERSION = 1  # bumped when a key of ``to_json``'s document changes meaning or goes away


@dataclass(frozen=True)
class LinkSummary:
    """A link held by a group: its name, the file or store it leads into (``.`` for the same one) and the
    absolute path of its target there."""

    name: str
    source: str
    path: str

    def __str__(self) -> str:
        return f"{self.name} -> {self.source}:{self.path}"


@dataclass
class NodeSummary:
    path: str  # relative to the root, no leading slash ("" for the root group)
    kind: str  # "group" or "array"
    neurodata_type: str | None
    shape: tuple[int, ...] | None
    dtype: str | None
    chunks: tuple[int, ...] | None  # None: contiguous (HDF5) or unknown
    codecs: list[str]
    stored_bytes: int
    logical_bytes: int
    links: list[LinkSummary] = field(default_factory=list)
    incomplete: bool = False
    error: str | None = None  # a legacy dataset whose metadata cannot be used: why


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
        lines.extend(_node_lines(s))
    return "\n".join(lines)


def _node_lines(s: NodeSummary) -> list[str]:
    depth = s.path.count("/") + 1 if s.path else 0
    name = s.path.rsplit("/", 1)[-1] if s.path else ""
    typ = f" <{s.neurodata_type}>" if s.neurodata_type else ""
    if s.kind == "group":
        return [f"{'  ' * depth}{name}/{typ}"] + [f"{'  ' * (depth + 1)}{link}  (link)" for link in s.links]
    if s.error is not None:
        return [f"{'  ' * depth}{name}{typ}  UNREADABLE: {s.error}"]
    codecs = "+".join(s.codecs) or "raw"
    chunks = f"chunks={list(s.chunks)}" if s.chunks is not None else "contiguous"
    flag = "  [INCOMPLETE]" if s.incomplete else ""
    logical = f" / {_human(s.logical_bytes)}" if s.dtype not in ("str", "reference") else ""
    return [f"{'  ' * depth}{name}{typ}  {s.dtype} {list(s.shape or ())} {chunks} "
            f"{codecs}  {_human(s.stored_bytes)} stored{logical}{flag}"]


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def to_json(location: str, file_format: str, summaries: list[NodeSummary]) -> str:
    """The summary as one JSON document: ``location``, ``format`` ("zarr" or "hdf5"), ``version`` of this
    document, and ``nodes``, each with the same keys whatever its kind (null where they do not apply)."""
    doc = {"version": INFO_JSON_VERSION, "location": location, "format": file_format,
           "nodes": [_node_json(s) for s in summaries]}
    return json.dumps(doc, indent=1)


def _node_json(s: NodeSummary) -> dict[str, Any]:
    array = s.kind != "group"
    return {
        "path": "/" + s.path,
        "kind": "dataset" if array else "group",
        "neurodata_type": s.neurodata_type,
        "shape": list(s.shape) if array and s.shape is not None else None,
        "dtype": s.dtype if array else None,
        "chunks": list(s.chunks) if array and s.chunks is not None else None,
        "compression": list(s.codecs),
        "stored_bytes": s.stored_bytes if array else None,
        "logical_bytes": s.logical_bytes if array and s.error is None else None,
        "links": [{"name": link.name, "file": link.source, "target": link.path} for link in s.links],
        "incomplete": s.incomplete,
        "error": s.error,
    }
