"""Attribute values -> JSON, the same for every layout except how references are spelled."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .dtypes import UnsupportedDtypeError
from .reference import ZarrReference


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


def is_finite_json(value: Any) -> bool:
    """True when a float is representable in strict JSON."""
    return not (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))
