"""HDF5 source on h5py: references resolved by object address (never by asking HDF5 for names)."""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from ..format.base import MAX_NODE_DEPTH
from ..format.reference import hdf5_region
from ..storage.progress import advance, grow
from .model import DATASET, GROUP, Link, Node, Ref, Reference, Structure, StructureError, join
from .sources import Source, dtype_label, to_plain

SPECLOC = ".specloc"


class HDF5Source(Source):
    """Walks an HDF5 file once; maps object addresses to paths so references resolve in O(1)."""

    format = "hdf5"

    def __init__(self, path_or_file: Any) -> None:
        if isinstance(path_or_file, h5py.File):
            self.file, self._owns = path_or_file, False
        else:
            try:
                self.file, self._owns = h5py.File(path_or_file, "r"), True
            except OSError as exc:
                raise StructureError(f"{path_or_file}: cannot open as HDF5: {exc}") from exc
        super().__init__(self.file.filename)
        self._addr: dict[int, str] = {}
        self._pending: list[tuple[str, str, Any]] = []
        self._bar: Any = None  # the walk's progress bar, while it runs

    # --- walking ------------------------------------------------------------------------------
    def _walk(self, bar: Any = None) -> Structure:
        nodes: dict[str, Node] = {}
        links: list[Link] = []
        self._addr = {self._address(self.file.id): "/"}
        self._pending = []
        self._bar = bar
        grow(bar, 1)
        nodes["/"] = Node("/", GROUP, self._attrs("/", self.file))
        advance(bar)
        self._visit_group(self.file.id, "/", nodes, links)
        references = self._resolve_pending(nodes)
        return Structure(nodes, links, references, self.location)

    def _visit_group(self, gid: Any, path: str, nodes: dict[str, Node], links: list[Link]) -> None:
        """Depth-first walk on h5py's low-level API (several times faster than the high-level one)."""
        entries: list[tuple[bytes, int]] = []  # h5py reuses one LinkInfo object: keep only its type
        gid.links.iterate(lambda name, info: entries.append((name, info.type)) or None, info=True)
        grow(self._bar, len(entries))
        for raw_name, link_type in entries:
            advance(self._bar)
            name = raw_name.decode("utf-8", "surrogateescape")
            child = join(path, name)
            if link_type == h5py.h5l.TYPE_SOFT:
                links.append(Link(path, name, _absolute(path, _text(gid.links.get_val(raw_name)))))
                continue
            if link_type == h5py.h5l.TYPE_EXTERNAL:
                file, target = gid.links.get_val(raw_name)
                links.append(Link(path, name, _absolute("/", _text(target)), _text(file)))
                continue
            try:
                oid = h5py.h5o.open(gid, raw_name)
            except (KeyError, OSError, ValueError) as exc:
                raise StructureError(f"{self.location}: cannot open {child}: {exc}") from exc
            oinfo = h5py.h5o.get_info(oid)
            if oinfo.addr in self._addr:  # a second hard link to an object already visited
                links.append(Link(path, name, self._addr[oinfo.addr]))
                continue
            self._addr[oinfo.addr] = child
            if isinstance(oid, h5py.h5g.GroupID):
                attrs = self._attrs(child, h5py.Group(oid)) if oinfo.num_attrs else {}
                nodes[child] = Node(child, GROUP, attrs)
                if child.count("/") > MAX_NODE_DEPTH:
                    raise StructureError(f"{self.location}: group {child[:80]}... is nested more than "
                                         f"{MAX_NODE_DEPTH} groups deep")
                self._visit_group(oid, child, nodes, links)
            elif isinstance(oid, h5py.h5d.DatasetID):
                nodes[child] = self._dataset_node(child, h5py.Dataset(oid), oinfo.num_attrs)
            else:  # a committed datatype: not an NWB object
                continue

    def _dataset_node(self, path: str, ds: h5py.Dataset, num_attrs: int = 1) -> Node:
        dsid = ds.id
        dt, shape = dsid.dtype, dsid.shape  # low-level properties: much cheaper than Dataset.dtype/shape
        ref_fields = _ref_fields(dt)
        kind = _ref_kind(dt)
        attrs = self._attrs(path, ds) if num_attrs else {}
        node = Node(path, DATASET, attrs, shape, kind or dtype_label(dt, ref_fields))
        size = int(np.prod(shape)) if shape else (0 if shape is None else 1)
        if kind is not None and size:
            values = np.empty(shape, dtype=h5py.ref_dtype if kind == "reference" else h5py.regionref_dtype)
            dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, values)
            for idx in np.ndindex(values.shape):
                self._pending.append((path, _index_via(idx), values[idx]))
        for name in ref_fields if size else ():
            column = ds.fields(name)[()]
            for idx in np.ndindex(column.shape):
                self._pending.append((path, f"{_index_via(idx)}.{name}", column[idx]))
        return node

    def _attrs(self, path: str, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in obj.attrs:
            if name == SPECLOC:
                continue
            try:
                value = obj.attrs[name]
            except (OSError, TypeError) as exc:
                raise StructureError(f"{self.location}: cannot read attribute {name!r} of {path}: {exc}") from exc
            out[name] = self._attr_value(path, name, value)
        return out

    def _attr_value(self, path: str, name: str, value: Any) -> Any:
        if isinstance(value, h5py.Reference):
            self._pending.append((path, f"@{name}", value))
            return _Deferred(len(self._pending) - 1)
        if isinstance(value, np.ndarray) and value.dtype.kind == "O" and value.size and \
                isinstance(value.reshape(-1)[0], h5py.Reference):
            out = []
            for i, item in enumerate(value.reshape(-1)):
                self._pending.append((path, f"@{name}[{i}]", item))
                out.append(_Deferred(len(self._pending) - 1))
            return out
        return to_plain(value)

    def _resolve_pending(self, nodes: dict[str, Node]) -> list[Reference]:
        """Resolve every reference met during the walk; fill attribute placeholders in place."""
        refs: list[Reference] = []
        resolved: list[Ref | None] = [self._resolve(raw) for _, _, raw in self._pending]
        for (source, via, _), ref in zip(self._pending, resolved):
            if ref is not None:
                refs.append(Reference(source, ref.path, via, ref.region, ref.file))
        for path in {source for source, via, _ in self._pending if via.startswith("@")}:
            attrs = nodes[path].attrs
            for key, value in attrs.items():
                attrs[key] = _fill(value, resolved)
        self._pending = []
        return refs

    def _resolve(self, raw: Any) -> Ref | None:
        """Target of an HDF5 reference by object address; None for null references."""
        if raw is None or not isinstance(raw, h5py.Reference) or not raw:
            return None
        try:
            oid = h5py.h5r.dereference(raw, self.file.id)
        except (ValueError, OSError, KeyError):
            oid = None
        if oid is None:
            return Ref("<dangling>")
        path = self._addr.get(self._address(oid))
        if path is None:
            return Ref("<unreachable>")
        region = self._region(raw) if isinstance(raw, h5py.RegionReference) else None
        return Ref(path, None, region)

    def _region(self, raw: h5py.RegionReference) -> Any:
        space = h5py.h5r.get_region(raw, self.file.id)
        region = hdf5_region(space)
        if region is not None:
            return region
        if space.get_select_type() == h5py.h5s.SEL_ALL:
            return [[0, int(n), 1] for n in space.shape]
        return {"indices": []}

    @staticmethod
    def _address(oid: Any) -> int:
        return h5py.h5o.get_info(oid).addr

    # --- reading --------------------------------------------------------------------------------
    def read(self, path: str, selection: Any = ()) -> Any:
        self.structure()
        try:
            ds = self.file[path]
        except KeyError as exc:
            raise StructureError(f"{self.location}: no dataset at {path}") from exc
        if not isinstance(ds, h5py.Dataset):
            raise StructureError(f"{self.location}: {path} is a group, not a dataset")
        values = ds[selection]
        return self.decode(ds.dtype, values)

    def decode(self, dt: np.dtype, values: Any) -> Any:
        """Stored values as Python: bytes as ``str``, references as ``Ref``."""
        if isinstance(values, h5py.Reference):
            return self._resolve(values)
        if isinstance(values, bytes):
            return values.decode("utf-8", "replace")
        if not isinstance(values, np.ndarray):
            return values
        if values.dtype.names:
            return self._decode_compound(values)
        if values.dtype.kind in "OS":
            out = np.empty(values.shape, dtype=object)
            for idx in np.ndindex(values.shape):
                out[idx] = self.decode(dt, values[idx])
            return out
        return values

    def _decode_compound(self, values: np.ndarray) -> np.ndarray:
        fields = [(n, object if values.dtype.fields[n][0].kind in "OS" else values.dtype.fields[n][0])
                  for n in values.dtype.names]
        out = np.empty(values.shape, dtype=fields)
        for name, _ in fields:
            col = values[name]
            out[name] = self.decode(col.dtype, col) if col.dtype.kind in "OS" else col
        return out

    def spec_location(self) -> str | None:
        raw = self.file.attrs.get(SPECLOC)
        if isinstance(raw, h5py.Reference):
            self.structure()
            ref = self._resolve(raw)
            return ref.path if ref is not None else None
        if isinstance(raw, (str, bytes)):
            return "/" + to_plain(raw).strip("/")
        for name in ("specifications", "general/specifications"):
            if name in self.file and len(self.file[name]):
                return "/" + name
        return None

    def close(self) -> None:
        if self._owns and self.file.id.valid:
            self.file.close()


class _Deferred:
    """Placeholder for a reference in an attribute until all addresses are known."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


def _fill(value: Any, resolved: list[Ref | None]) -> Any:
    if isinstance(value, _Deferred):
        return resolved[value.index]
    if isinstance(value, list):
        return [_fill(v, resolved) for v in value]
    return value


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _absolute(parent: str, target: str) -> str:
    return target if target.startswith("/") else join(parent, target)


def _ref_kind(dt: np.dtype) -> str | None:
    kind = h5py.check_dtype(ref=dt)
    if kind is h5py.RegionReference:
        return "region_reference"
    if kind is h5py.Reference:
        return "reference"
    return None


def _ref_fields(dt: np.dtype) -> tuple[str, ...]:
    if not dt.names:
        return ()
    return tuple(n for n in dt.names if h5py.check_dtype(ref=dt.fields[n][0]) is not None)


def _index_via(idx: tuple[int, ...]) -> str:
    return "[" + ",".join(str(i) for i in idx) + "]"
