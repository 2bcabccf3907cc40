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

ASCII_LABELS = frozenset({"ascii", "bytes"})


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
    """The h5py dtype a Zarr text array written with ``keep_hdf5_types`` had in HDF5 (None: UTF-8 text)."""
    if stored is not None and stored.kind == "S":
        encoding = "ascii" if (label or "ascii") in ASCII_LABELS else "utf-8"
        return h5py.string_dtype(encoding, stored.itemsize)
    if label in ASCII_LABELS:
        return h5py.string_dtype("ascii")
    return None
