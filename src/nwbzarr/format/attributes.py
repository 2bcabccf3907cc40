"""Attribute values -> JSON, the same for every layout except how references are spelled."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import numpy as np

from .dtypes import UnsupportedDtypeError
from .reference import ZarrReference

# Attribute names the format reserves (docs/format.md, "Reserved attributes"). Each layout writes its own
# names and hides both layouts' names on read (a migrated or mixed store may carry either), so the
# names are listed here once, by layout; ``v3`` and ``legacy`` take their spellings from these.
V3_DTYPE_ATTR, V3_LINKS_ATTR, V3_REF_FIELDS_ATTR = "_DTYPE", "_LINKS", "_REFERENCE_FIELDS"
LEGACY_DTYPE_ATTR, LEGACY_LINK_ATTR = "zarr_dtype", "zarr_link"
SPECLOC_ATTR = ".specloc"  # the root's pointer to the cached specs (HDMF's name, both layouts)
INCOMPLETE_ATTR = "nwbzarr_incomplete"  # on an array whose data are still being written (docs/format.md)
DIMS_ATTR = "_ARRAY_DIMENSIONS"  # dimension names, as xarray spells them
HDF5_TYPES_ATTR = "_HDF5_ATTR_TYPES"  # HDF5 attribute types recorded by ``nwbzarr convert``

RESERVED_ATTRS = frozenset({V3_DTYPE_ATTR, V3_LINKS_ATTR, V3_REF_FIELDS_ATTR, LEGACY_DTYPE_ATTR, LEGACY_LINK_ATTR,
                            SPECLOC_ATTR})
"""Names a user attribute may not take: the writer refuses them."""
HIDDEN_ATTRS = RESERVED_ATTRS | {DIMS_ATTR, HDF5_TYPES_ATTR}
"""Names never shown as user attributes on read (the reserved ones plus those nwbzarr sets itself)."""


def to_json(value: Any, encode_ref: Callable[[ZarrReference], Any], name: str = "") -> Any:
    """A Python/numpy attribute value as JSON (NaN/infinity kept as floats, bytes decoded)."""
    if isinstance(value, ZarrReference):
        return encode_ref(value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, np.generic):
        return _numpy_scalar(value, name)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return value.tolist()
        return [to_json(v, encode_ref, name) for v in value.tolist()] if value.ndim else to_json(value.item(), encode_ref, name)
    if isinstance(value, (list, tuple, set, frozenset)):  # a set as a list in its iteration order (hdmf-zarr's)
        return [to_json(v, encode_ref, name) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v, encode_ref, name) for k, v in value.items()}
    raise UnsupportedDtypeError(f"attribute {name!r}: value of type {type(value).__name__} cannot be stored")


def encode_node_attributes(attrs: dict[str, Any], links: list[tuple[str, ZarrReference]],
                           encode_ref: Callable[[ZarrReference], Any], links_attr: str) -> dict[str, Any]:
    """A node's attributes as JSON plus its links under the layout's links attribute."""
    out = {k: to_json(v, encode_ref, k) for k, v in attrs.items()}
    if links:
        out[links_attr] = [{"name": name, "source": ref.source, "path": ref.path} for name, ref in links]
    return out


def _numpy_scalar(value: np.generic, name: str) -> Any:
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bytes_):
        return value.decode("utf-8")
    if isinstance(value, np.str_):
        return str(value)
    raise UnsupportedDtypeError(f"attribute {name!r}: numpy type {type(value).__name__} cannot be stored")

