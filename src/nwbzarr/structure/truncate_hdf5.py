"""HDF5 -> HDF5 truncation with h5py: same creation properties (chunks, filters), attributes, links, refs."""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from ..storage.progress import advance, grow
from .hdf5_source import HDF5Source
from .model import DATASET, Node, Ref, StructureError
from .truncate_plan import TruncationPlan, plan_truncation


def truncate_hdf5(src: HDF5Source, target: str, n: int, bar: Any = None) -> str:
    """Write the first ``n`` rows of every dataset of ``src`` into a new HDF5 file at ``target``; ``bar``
    (a ``storage.progress`` bar of objects) counts the walk, then every object twice (data, references)."""
    structure = src.structure(bar)
    plan = plan_truncation(src, n)
    grow(bar, 2 * len(structure.nodes))
    with h5py.File(target, "w") as dst:
        for path, node in structure.nodes.items():
            advance(bar)
            if path == "/":
                _copy_attrs(src, src.file, dst, node)
                continue
            if node.kind == DATASET:
                _create_dataset(src, dst, node, plan)
            else:
                dst.create_group(path, track_order=None)
                _copy_attrs(src, src.file[path], dst[path], node)
        for link in structure.links:
            dst[link.parent][link.name] = (h5py.SoftLink(link.target) if link.file is None
                                           else h5py.ExternalLink(link.file, link.target))
        for path, node in structure.nodes.items():
            advance(bar)
            if node.kind == DATASET:
                _write_references(src, dst, node, plan)
            else:
                _ref_attrs(dst, dst[path], node)
        _copy_root_specloc(src, dst)
    return target


# --- attributes ---------------------------------------------------------------------------------
def _copy_attrs(src: HDF5Source, obj: Any, out: Any, node: Node) -> None:
    """Attributes with their stored type and shape; references are written after all objects exist."""
    for name in obj.attrs:
        if name == ".specloc":
            continue
        value = node.attrs.get(name)
        if _holds_ref(value):
            continue
        aid = obj.attrs.get_id(name)
        raw = obj.attrs[name]
        if isinstance(raw, h5py.Empty):
            out.attrs[name] = raw
        else:
            out.attrs.create(name, raw, shape=aid.shape, dtype=aid.dtype)


def _holds_ref(value: Any) -> bool:
    return isinstance(value, Ref) or (isinstance(value, list) and any(isinstance(v, Ref) for v in value))


def _ref_attrs(dst: h5py.File, out: Any, node: Node) -> None:
    for name, value in node.attrs.items():
        if isinstance(value, Ref):
            out.attrs.create(name, _new_ref(dst, value), dtype=h5py.ref_dtype)
        elif _holds_ref(value):
            out.attrs.create(name, [_new_ref(dst, v) for v in value], dtype=h5py.ref_dtype)


def _new_ref(dst: h5py.File, ref: Ref | None, plan: TruncationPlan | None = None) -> Any:
    """The same reference in the new file (null when the target is unknown)."""
    if ref is None or ref.file is not None or ref.path not in dst:
        return h5py.RegionReference() if ref is not None and ref.region is not None else h5py.Reference()
    target = dst[ref.path]
    if ref.region is None or plan is None:
        return target.ref
    region = plan.clip_region(ref.path, ref.region)
    sel = list(region["indices"]) if isinstance(region, dict) else tuple(slice(a, b, c) for a, b, c in region)
    return target.regionref[sel]


# --- datasets -----------------------------------------------------------------------------------
def _create_dataset(src: HDF5Source, dst: h5py.File, node: Node, plan: TruncationPlan) -> None:
    ds = src.file[node.path]
    rows = plan.rows(node)
    shape = ds.shape if rows is None or ds.shape is None else (rows, *ds.shape[1:])
    parent = dst[node.path.rsplit("/", 1)[0] or "/"]
    name = node.path.rsplit("/", 1)[1]
    if ds.shape is None:  # null dataspace
        parent.create_dataset(name, data=h5py.Empty(ds.dtype))
    else:
        space = (h5py.h5s.create(h5py.h5s.SCALAR) if shape == () else
                 h5py.h5s.create_simple(shape, _maxshape(ds, shape)))
        try:
            h5py.h5d.create(parent.id, name.encode(), ds.id.get_type(), space, dcpl=ds.id.get_create_plist())
        except (ValueError, OSError) as exc:
            raise StructureError(f"{src.location}: cannot create truncated copy of {node.path}: {exc}") from exc
    out = parent[name]
    _copy_attrs(src, ds, out, node)
    if node.dtype in ("reference", "region_reference") or "reference" in (node.dtype or "") or ds.shape is None:
        return
    if rows == 0 or (shape and 0 in shape):
        return
    values = ds[()] if rows is None else ds[:rows]
    out[...] = plan.rewrite_region(node.path, values) if node.path in plan.region_columns else values


def _maxshape(ds: h5py.Dataset, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Chunked datasets keep their maximum shape (so chunks stay valid); contiguous ones are fixed."""
    if ds.chunks is None:
        return shape
    return tuple(h5py.h5s.UNLIMITED if m is None else m for m in (ds.maxshape or shape))


def _write_references(src: HDF5Source, dst: h5py.File, node: Node, plan: TruncationPlan) -> None:
    out = dst[node.path]
    _ref_attrs(dst, out, node)
    if node.dtype not in ("reference", "region_reference") and "reference" not in (node.dtype or ""):
        return
    rows = plan.rows(node)
    if rows == 0 or out.shape is None or (out.shape and 0 in out.shape):
        return
    sel = () if rows is None else (slice(0, rows),)
    values = src.read(node.path, sel)
    ds = src.file[node.path]
    if ds.dtype.names:
        out[...] = _compound_with_refs(dst, ds, values, rows, plan, node.path)
    else:
        refs = np.empty(np.shape(values), dtype=h5py.ref_dtype if node.dtype == "reference" else h5py.regionref_dtype)
        for idx in np.ndindex(refs.shape):
            refs[idx] = _new_ref(dst, values[idx], plan)
        out[...] = refs


def _compound_with_refs(dst: h5py.File, ds: h5py.Dataset, values: np.ndarray, rows: int | None,
                        plan: TruncationPlan, path: str) -> np.ndarray:
    raw = ds[()] if rows is None else ds[:rows]
    for name in raw.dtype.names:
        if h5py.check_dtype(ref=raw.dtype.fields[name][0]) is not None:
            col = raw[name]
            for idx in np.ndindex(col.shape):
                col[idx] = _new_ref(dst, values[name][idx], plan)
            raw[name] = col
    if path in plan.tsr_targets and {"idx_start", "count"} <= set(raw.dtype.names):
        raw["idx_start"], raw["count"] = plan.rewrite_tsr(path, raw["idx_start"], raw["count"])
    return raw


def _copy_root_specloc(src: HDF5Source, dst: h5py.File) -> None:
    raw = src.file.attrs.get(".specloc")
    if isinstance(raw, h5py.Reference):
        loc = src.spec_location()
        if loc is not None and loc in dst:
            dst.attrs.create(".specloc", dst[loc].ref, dtype=h5py.ref_dtype)
    elif raw is not None:
        dst.attrs[".specloc"] = raw
