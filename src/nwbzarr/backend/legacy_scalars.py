"""nwbzarr's legacy writer keeps a scalar compound (e.g. ``ElectrodeGroup.position``) as a one-row array, as
the Zarr v2 convention stores scalars (hdmf-zarr 0.13 itself fails to write one), and a storage-level
migration to the current layout keeps that shape: find those whose spec says scalar, so that they read back
as the 0-d compound HDF5 and the current layout give."""

from __future__ import annotations

from typing import Any

from ..format.base import NodeInfo


def mark_scalar_compounds(nodes: dict[str, NodeInfo], type_map: Any) -> None:
    """Flag ``scalar_as_1d`` on every one-row compound array whose dataset spec (in the spec of its typed
    parent group) has no shape."""
    if type_map is None:
        return
    for path, node in nodes.items():
        if node.kind != "array" or node.scalar_as_1d or not node.is_compound or node.shape != (1,):
            continue
        parent = nodes.get(path.rsplit("/", 1)[0] if "/" in path else "")
        if parent is not None and _spec_is_scalar(type_map, parent, node.name):
            node.scalar_as_1d = True


def _spec_is_scalar(type_map: Any, parent: NodeInfo, name: str) -> bool:
    """Whether the spec of ``parent``'s neurodata type declares dataset ``name`` without a shape."""
    data_type, namespace = parent.attrs.get("neurodata_type"), parent.attrs.get("namespace")
    if not isinstance(data_type, str) or not isinstance(namespace, str):
        return False
    try:
        spec = type_map.namespace_catalog.get_spec(namespace, data_type)
    except (KeyError, ValueError):
        return False  # a type whose namespace is not loaded: keep the stored shape
    sub = spec.get_dataset(name) if hasattr(spec, "get_dataset") else None
    return sub is not None and sub.shape is None
