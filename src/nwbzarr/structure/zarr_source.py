"""Zarr source: either layout, read through the project's format layer (``nwbzarr.format``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._private_api import sync
from ..backend.location import open_location
from ..format import FormatError, NodeInfo, ZarrReference, detect_layout
from ..storage.progress import advance, grow
from .model import DATASET, GROUP, Link, Node, Ref, Reference, Structure, StructureError, join
from .sources import Source, dtype_label, to_plain

TEXT_DTYPES = frozenset({"str", "text", "utf", "utf8", "utf-8", "ascii", "bytes", "isodatetime", "datetime"})


class ZarrSource(Source):
    """A Zarr store walked through its layout's ``load_nodes`` (consolidated metadata when present)."""

    format = "zarr"

    def __init__(self, path: Any) -> None:
        self.store, location = open_location(path, read_only=True)
        super().__init__(location or str(path))
        try:
            self.layout = sync(detect_layout(self.store))
        except FormatError as exc:
            raise StructureError(f"{self.location}: {exc}") from exc
        if self.layout is None:
            raise StructureError(f"{self.location}: neither an HDF5 file nor a Zarr store")
        self._infos: dict[str, NodeInfo] = {}

    # --- walking --------------------------------------------------------------------------------
    def _walk(self, bar: Any = None) -> Structure:
        try:
            self._infos = {_abs(p): n for p, n in sync(self.layout.load_nodes(self.store)).items()}
        except FormatError as exc:
            raise StructureError(f"{self.location}: {exc}") from exc
        nodes: dict[str, Node] = {}
        links: list[Link] = []
        refs: list[Reference] = []
        grow(bar, len(self._infos))
        for path, info in sorted(self._infos.items()):
            advance(bar)
            nodes[path] = self._node(path, info, refs)
            for name, target in info.links:
                links.append(Link(path, name, _abs(target.path), _file_of(target)))
            if info.kind == "array" and (info.is_reference or info.ref_fields) and _size(info):
                refs.extend(self._array_references(path, info))
        return Structure(nodes, links, refs, self.location)

    def _node(self, path: str, info: NodeInfo, refs: list[Reference]) -> Node:
        attrs = {k: _attr(path, f"@{k}", v, refs) for k, v in info.attrs.items()}
        if info.kind == "group":
            return Node(path, GROUP, attrs)
        return Node(path, DATASET, attrs, _shape(info), self._dtype_label(info))

    def _dtype_label(self, info: NodeInfo) -> str:
        if info.is_reference:
            return "region_reference" if info.hdmf_dtype == "region_reference" else "reference"
        if (info.hdmf_dtype or "").lower() in TEXT_DTYPES:
            return "text"
        try:
            dt = self.layout.open_array(self.store, info).dtype
        except Exception as exc:
            raise StructureError(f"{self.location}: cannot interpret array {info.path or '/'}: {exc}") from exc
        return dtype_label(np.dtype(dt) if not hasattr(dt, "to_native_dtype") else dt.to_native_dtype(),
                           info.ref_fields)

    def _array_references(self, path: str, info: NodeInfo) -> list[Reference]:
        values = self._decoded(info, ())
        out: list[Reference] = []
        if info.ref_fields:
            for name in info.ref_fields:
                column = values[name]
                for idx in np.ndindex(column.shape):
                    _add(out, path, f"{_via(idx)}.{name}", column[idx])
        else:
            for idx in np.ndindex(values.shape):
                _add(out, path, _via(idx), values[idx])
        return out

    # --- reading --------------------------------------------------------------------------------
    def node_info(self, path: str) -> NodeInfo:
        """The layout's view of one node (absolute path)."""
        self.structure()
        info = self._infos.get(_abs(path))
        if info is None:
            raise StructureError(f"{self.location}: no node at {path}")
        return info

    def read(self, path: str, selection: Any = ()) -> Any:
        info = self.node_info(path)
        if info.kind != "array":
            raise StructureError(f"{self.location}: {path} is a group, not a dataset")
        values = self._decoded(info, selection)
        return values[()] if isinstance(values, np.ndarray) and values.ndim == 0 else values

    def _decoded(self, info: NodeInfo, selection: Any) -> np.ndarray:
        arr = self.layout.open_array(self.store, info)
        if info.scalar_as_1d and selection == ():
            selection = 0
        try:
            raw = sync(arr.getitem(selection))
        except Exception as exc:
            raise StructureError(f"{self.location}: cannot read {info.path or '/'}: {exc}") from exc
        values = self.layout.decode_array_values(info, np.asarray(raw))
        return _refs_to_ref(values)

    def spec_location(self) -> str | None:
        self.structure()
        root = self._infos.get("/")
        doc_attrs = (root.document.get("attributes") or {}) if root is not None else {}
        loc = doc_attrs.get(".specloc") or root.attrs.get(".specloc") if root is not None else None
        if isinstance(loc, ZarrReference):
            loc = loc.path
        loc = _abs(loc) if isinstance(loc, str) else "/specifications"
        return loc if loc in self._infos else None

    def close(self) -> None:
        self.store.close()


def _abs(path: str) -> str:
    return "/" + path.strip("/")


def _file_of(ref: ZarrReference) -> str | None:
    return None if ref.is_local else ref.source


def _as_ref(value: Any) -> Ref | None:
    if isinstance(value, ZarrReference):
        return Ref(_abs(value.path), _file_of(value), value.region)
    return None


def _attr(path: str, via: str, value: Any, refs: list[Reference]) -> Any:
    if isinstance(value, ZarrReference):
        ref = _as_ref(value)
        refs.append(Reference(path, ref.path, via, ref.region, ref.file))
        return ref
    if isinstance(value, list):
        return [_attr(path, f"{via}[{i}]", v, refs) for i, v in enumerate(value)]
    return to_plain(value)


def _add(out: list[Reference], path: str, via: str, value: Any) -> None:
    if isinstance(value, Ref):
        out.append(Reference(path, value.path, via, value.region, value.file))


def _refs_to_ref(values: Any) -> Any:
    if isinstance(values, ZarrReference):
        return _as_ref(values)
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "OV":
        return values
    if values.dtype.names:
        for name in values.dtype.names:
            if values.dtype.fields[name][0].kind == "O":
                values[name] = _refs_to_ref(values[name])
        return values
    out = np.empty(values.shape, dtype=object)
    for idx in np.ndindex(values.shape):
        item = values[idx]
        out[idx] = _as_ref(item) if isinstance(item, ZarrReference) else item
    return out


def _shape(info: NodeInfo) -> tuple[int, ...]:
    return () if info.scalar_as_1d else info.shape


def _size(info: NodeInfo) -> int:
    return int(np.prod(_shape(info))) if _shape(info) else 1


def _via(idx: tuple[int, ...]) -> str:
    return "[" + ",".join(str(i) for i in idx) + "]"


__all__ = ["DATASET", "GROUP", "ZarrSource", "join"]
