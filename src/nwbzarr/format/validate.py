"""Checks of metadata documents where they are parsed, one per document kind, so that a hostile or damaged
store fails with a ``FormatError`` naming the node and the field instead of a ``TypeError`` deep in zarr
or HDMF. Only types and shapes are checked here; values zarr parses (codecs, fill values) are checked by
zarr when an array is opened, and its errors are named there."""

from __future__ import annotations

from typing import Any

from .base import FormatError
from .reference import ZarrReference

TYPE_KEYS = ("neurodata_type", "data_type", "namespace")  # HDMF reads these as type names: text only


def check_attributes(where: str, attrs: Any, document: str) -> dict[str, Any]:
    """The attributes of a node: a JSON object whose HDMF typing keys are text."""
    if attrs is None:
        return {}
    if not isinstance(attrs, dict):
        raise FormatError(f"node {where}: the attributes in {document} are a {_kind(attrs)}, not a JSON object")
    for key in TYPE_KEYS:
        value = attrs.get(key)
        if value is not None and not isinstance(value, str) and not is_one_text(value):
            raise FormatError(f"node {where}: attribute {key!r} is {_short(value)} ({_kind(value)}); "
                              "HDMF type names and namespaces are text")
    return attrs


def is_one_text(value: Any) -> bool:
    """A list holding one string: how a one-element HDF5 text attribute (MatNWB writes them) is kept."""
    return isinstance(value, list) and len(value) == 1 and isinstance(value[0], str)


def parse_links(where: str, links: Any, attribute: str) -> list[tuple[str, ZarrReference]]:
    """The links of a group: a list of objects, each with a text ``name`` and a ``path`` (and ``source``)."""
    if links is None:
        return []
    if not isinstance(links, list):
        raise FormatError(f"group {where}: {attribute} is a {_kind(links)}, not a list of links")
    out = []
    for link in links:
        if not isinstance(link, dict) or not isinstance(link.get("name"), str):
            raise FormatError(f"group {where}: {attribute} entry {_short(link)} is not a link "
                              "(an object with a text 'name' and 'path')")
        name = link["name"]
        source = link.get("source")
        if not isinstance(link.get("path"), str) or not (source is None or isinstance(source, str)):
            raise FormatError(f"link {where.rstrip('/')}/{name}: {attribute} entry {_short(link)} needs a text "
                              "'path' (and a text 'source' when it has one)")
        out.append((name, ZarrReference.from_json(link, f"link {where.rstrip('/')}/{name}")))
    return out


def check_shape(where: str, value: Any, field: str, document: str, positive: bool = False) -> list[int]:
    """A shape or chunk shape: a list of integers (>= 0, or >= 1 for chunk shapes)."""
    low = 1 if positive else 0
    if not isinstance(value, list) or not all(_is_int(n) and n >= low for n in value):
        bound = "positive" if positive else "non-negative"
        prefix = f"array {where}: " if where else ""
        raise FormatError(f"{prefix}{field} in {document} is {_short(value)}, not a list of {bound} integers")
    return value


def check_v3_array(where: str, doc: dict[str, Any]) -> None:
    """The fields of an array's ``zarr.json`` that nwbzarr reads before zarr parses the document."""
    shape = check_shape(where, doc.get("shape"), "shape", "zarr.json")
    data_type = doc.get("data_type")
    if not isinstance(data_type, (str, dict)):
        raise FormatError(f"array {where}: data_type in zarr.json is {_short(data_type)}, not a data type name "
                          "or object")
    grid = doc.get("chunk_grid")
    config = grid.get("configuration") if isinstance(grid, dict) else None
    chunks = config.get("chunk_shape") if isinstance(config, dict) else None
    check_shape(where, chunks, "chunk_grid.configuration.chunk_shape", "zarr.json", positive=True)
    if len(chunks) != len(shape):
        raise FormatError(f"array {where}: chunk shape {chunks} in zarr.json has {len(chunks)} dimensions, the "
                          f"shape {shape} has {len(shape)}")
    codecs = doc.get("codecs")
    if not isinstance(codecs, list) or not all(isinstance(c, (dict, str)) for c in codecs):
        raise FormatError(f"array {where}: codecs in zarr.json is {_short(codecs)}, not a list of codec objects")


def check_v2_array(zarray: dict[str, Any]) -> None:
    """The fields of a ``.zarray`` read before zarr parses it (the legacy layout names the dataset)."""
    shape = check_shape("", zarray.get("shape"), "shape", ".zarray")
    chunks = check_shape("", zarray.get("chunks"), "chunks", ".zarray", positive=True)
    if len(chunks) != len(shape):
        raise FormatError(f"chunks {chunks} in .zarray have {len(chunks)} dimensions, the shape {shape} has "
                          f"{len(shape)}")
    dtype = zarray.get("dtype")
    if not isinstance(dtype, (str, list)):
        raise FormatError(f"dtype in .zarray is {_short(dtype)}, not a numpy dtype string or field list")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    names = {dict: "JSON object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
