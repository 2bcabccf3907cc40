"""An HDF5 file as comparable plain data, read with h5py only (no nwbzarr): for conversion fidelity tests.

Every group, dataset, attribute and link; each value with its HDF5 type (string character set,
variable or fixed length), numeric data as raw bytes, object references as the path they resolve
to, region references as path plus the selected blocks or points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

SPECLOC = ".specloc"


def type_label(tid: Any) -> Any:
    """The HDF5 type of a dataset or attribute: strings by character set and length, else numpy's name."""
    if isinstance(tid, h5py.h5t.TypeStringID):
        cset = "utf-8" if tid.get_cset() == h5py.h5t.CSET_UTF8 else "ascii"
        return ("string", cset, "variable" if tid.is_variable_str() else tid.get_size())
    if isinstance(tid, h5py.h5t.TypeCompoundID):
        return ("compound", tuple((tid.get_member_name(i).decode(), type_label(tid.get_member_type(i)))
                                  for i in range(tid.get_nmembers())))
    return str(tid.dtype)


def _region(f: h5py.File, ref: h5py.RegionReference) -> Any:
    space = h5py.h5r.get_region(ref, f.id)
    sel = space.get_select_type()
    if sel == h5py.h5s.SEL_HYPERSLABS:
        return ("blocks", space.get_select_hyper_blocklist().tolist())
    if sel == h5py.h5s.SEL_POINTS:
        return ("points", space.get_select_elem_pointlist().tolist())
    if sel == h5py.h5s.SEL_ALL:
        return ("all", list(space.shape))
    return ("none",)


def plain(f: h5py.File, value: Any) -> Any:
    """A value read by h5py as plain comparable data (references resolved by path)."""
    if isinstance(value, h5py.RegionReference):
        return ("region_ref", f[value].name, _region(f, value)) if value else ("region_ref", None)
    if isinstance(value, h5py.Reference):
        return ("ref", f[value].name) if value else ("ref", None)
    if isinstance(value, np.ndarray):
        if value.dtype.names:
            return ("compound", value.shape, tuple((n, plain(f, value[n])) for n in value.dtype.names))
        if value.dtype.kind == "O":
            return ("objects", value.shape, tuple(plain(f, v) for v in value.reshape(-1)))
        return ("array", str(value.dtype), value.shape, value.tobytes())
    if isinstance(value, np.void):
        return plain(f, np.asarray(value))
    if isinstance(value, np.generic):
        return ("scalar", str(value.dtype), value.tobytes())
    if isinstance(value, str):
        return ("text", value.encode("utf-8"))
    if isinstance(value, bytes):
        return ("text", value)
    return (type(value).__name__, value)


def _attrs(f: h5py.File, obj: Any) -> dict[str, Any]:
    return {k: (type_label(obj.attrs.get_id(k).get_type()), plain(f, obj.attrs[k])) for k in obj.attrs}


def snapshot(path: str | Path) -> dict[str, Any]:
    """``{absolute path: description}`` of every object and link of an HDF5 file."""
    out: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        def visit(group: h5py.Group) -> None:
            out[group.name] = ("group", _attrs(f, group))
            for name in group:
                child = f"{group.name.rstrip('/')}/{name}"
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.SoftLink):
                    out[child] = ("soft_link", link.path)
                elif isinstance(link, h5py.ExternalLink):
                    out[child] = ("external_link", link.filename, link.path)
                elif isinstance(group[name], h5py.Group):
                    visit(group[name])
                else:
                    ds = group[name]
                    out[child] = ("dataset", type_label(ds.id.get_type()), ds.shape, plain(f, ds[()]), _attrs(f, ds))

        visit(f)
    return out


def cached_specs(path: str | Path) -> dict[str, dict[str, bytes]]:
    """``{"<ns>/<version>": {file: text bytes}}`` from the group the root's ``.specloc`` points to."""
    with h5py.File(path, "r") as f:
        loc = f.attrs.get(SPECLOC)
        if loc is None:
            return {}
        group = f[loc]
        out: dict[str, dict[str, bytes]] = {}
        for ns in group:
            for version in group[ns]:
                files = group[ns][version]
                out[f"{ns}/{version}"] = {name: _text_bytes(files[name][()]) for name in files}
        return out


def _text_bytes(value: Any) -> bytes:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0]
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def external_link_files(path: str | Path) -> set[str]:
    """Names of the files the external links of an HDF5 file point into."""
    found: set[str] = set()
    with h5py.File(path, "r") as f:
        def visit(name: str, link: Any) -> None:
            if isinstance(link, h5py.ExternalLink):
                found.add(link.filename)

        f.visititems_links(visit)
    return found
