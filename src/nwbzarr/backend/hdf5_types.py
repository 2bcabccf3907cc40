"""HDF5 string types kept through Zarr for faithful conversions (``nwbzarr convert``).

HDF5 tells apart UTF-8 and ASCII text, and variable from fixed-length strings; Zarr text arrays do not.
When the writing IO asks for it (``keep_hdf5_types``), a text dataset copied from HDF5 records its type:
ASCII text is labelled ``ascii`` in the layout's dtype attribute, fixed-length strings are stored as
fixed-length bytes (``|S<n>``). ``hdf5_dtype_of`` reads that back for the Zarr -> HDF5 direction.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from ..format.attributes import HDF5_TYPES_ATTR

ASCII_LABELS = frozenset({"ascii", "bytes"})
UTF8_LABELS = frozenset({"utf8", "utf-8", "str", "text", "utf"})


def keeps_hdf5_types(io: Any) -> bool:
    """True when the writing IO wants HDF5 string types recorded (conversions only)."""
    return bool(getattr(io, "keep_hdf5_types", False))


def hdf5_text_type(source: Any) -> tuple[str, int | None] | None:
    """``(hdmf dtype label, fixed length or None)`` of an h5py text dataset that plain Zarr text would
    not keep (ASCII, or fixed length); None for variable-length UTF-8 text and anything else."""
    if not isinstance(source, h5py.Dataset):
        return None
    info = h5py.check_string_dtype(source.dtype)
    if info is None or (info.encoding == "utf-8" and info.length is None):
        return None
    return ("ascii" if info.encoding == "ascii" else "utf8"), info.length


def fixed_length_values(source: h5py.Dataset) -> np.ndarray:
    """The raw bytes of a fixed-length string dataset as a numpy ``|S<n>`` array."""
    return np.asarray(source[()], dtype=source.dtype)


def hdf5_dtype_of(label: str | None, stored: np.dtype | None) -> Any:
    """The h5py dtype of a Zarr text array in HDF5: ASCII or fixed length as a conversion recorded, else
    variable-length UTF-8 (None for arrays that are not text)."""
    if stored is not None and stored.kind in "OTU" and label not in ASCII_LABELS:
        return h5py.string_dtype("utf-8")
    if stored is not None and stored.kind == "S":  # legacy scalars carry no label: ASCII, as HDF5 defaults
        encoding = "utf-8" if label in UTF8_LABELS else "ascii"
        return h5py.string_dtype(encoding, stored.itemsize)
    if label in ASCII_LABELS:
        return h5py.string_dtype("ascii")
    return None


# --- attributes ---------------------------------------------------------------------------------------
ATTR_TYPES_KEY = HDF5_TYPES_ATTR  # a reserved name (format.attributes)
"""Hidden node attribute of converted stores: ``{attribute: HDF5 type}`` for the attributes whose HDF5
type JSON does not keep (ASCII or fixed-length text, numbers other than int64/float64)."""

JSON_NUMBER_DTYPES = frozenset({"<i8", "<f8"})


def attribute_types(obj: h5py.HLObject) -> dict[str, Any]:
    """The attribute types of an h5py group or dataset that a JSON copy would lose."""
    out: dict[str, Any] = {}
    for name in obj.attrs:
        attr = obj.attrs.get_id(name)
        label = _attribute_type(attr.get_type(), empty=attr.shape is not None and 0 in attr.shape)
        if label is not None:
            out[name] = label
    return out


def _attribute_type(tid: Any, empty: bool = False) -> Any:
    """The label of an attribute type JSON loses (every type for empty arrays: ``[]`` keeps none)."""
    if isinstance(tid, h5py.h5t.TypeStringID):
        encoding = "ascii" if tid.get_cset() == h5py.h5t.CSET_ASCII else "utf-8"
        if tid.is_variable_str():
            return "ascii" if encoding == "ascii" else ("utf8" if empty else None)
        return {"encoding": encoding, "length": int(tid.get_size())}
    if isinstance(tid, (h5py.h5t.TypeIntegerID, h5py.h5t.TypeFloatID)):
        dtype = tid.dtype.str
        return None if dtype in JSON_NUMBER_DTYPES and not empty else dtype
    return None  # references, booleans, compounds: JSON keeps what HDF5IO writes for them


def typed_attribute(value: Any, label: Any, where: str = "") -> Any:
    """An attribute value read from JSON, given back the HDF5 type ``attribute_types`` recorded."""
    if label in ("ascii", "utf8"):
        dtype = h5py.string_dtype("ascii" if label == "ascii" else "utf-8")
    elif isinstance(label, dict) and {"encoding", "length"} <= set(label):
        dtype = h5py.string_dtype(label["encoding"], int(label["length"]))
    elif isinstance(label, str):
        dtype = np.dtype(label)
    else:
        raise ValueError(f"{where}: unknown recorded HDF5 attribute type {label!r}")
    if dtype.kind in "OS":
        return np.array(_as_bytes(value), dtype=dtype)
    arr = np.asarray(value, dtype=dtype)
    return arr[()] if arr.ndim == 0 else arr


def _as_bytes(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_as_bytes(v) for v in value]
    return value
