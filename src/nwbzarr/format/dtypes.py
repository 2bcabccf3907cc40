"""HDMF spec dtypes <-> numpy and Zarr data types, shared by every layout."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..errors import UnsupportedDtypeError

TEXT_DTYPES = {"text", "utf", "utf8", "utf-8", "ascii", "bytes", "isodatetime", "datetime", "str"}
REFERENCE_DTYPES = {"object", "region", "object_reference", "region_reference"}

SPEC_TO_NUMPY = {
    "float": np.float32,
    "float32": np.float32,
    "double": np.float64,
    "float64": np.float64,
    "long": np.int64,
    "int64": np.int64,
    "int": np.int32,
    "int32": np.int32,
    "short": np.int16,
    "int16": np.int16,
    "int8": np.int8,
    "uint": np.uint32,
    "uint32": np.uint32,
    "uint16": np.uint16,
    "uint8": np.uint8,
    "uint64": np.uint64,
    "ulong": np.uint64,
    "bool": np.bool_,
    "float16": np.float16,
}


@functools.lru_cache(maxsize=512)
def dtype_name(dtype: np.dtype) -> str:
    """``dtype.name``, remembered per dtype: numpy works it out again on every access (~6 us, three times per
    array a write plans)."""
    return dtype.name


@functools.lru_cache(maxsize=512)
def dtype_text(dtype: np.dtype) -> str:
    """``str(dtype)``, remembered per dtype (see ``dtype_name``)."""
    return str(dtype)


def spec_dtype_name(dtype: Any) -> str | None:
    """The spec-level dtype name of a builder dtype (a string, a RefSpec, a numpy dtype, a type)."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        return dtype
    reftype = getattr(dtype, "reftype", None)
    if reftype is not None:
        return "region" if reftype == "region" else "object"
    if dtype is str:
        return "utf8"
    if dtype is bytes:
        return "ascii"
    try:
        npd = np.dtype(dtype)
    except TypeError:
        return None
    if npd.kind in "US":
        return "utf8" if npd.kind == "U" else "ascii"
    if npd.kind == "O":
        return None
    return dtype_name(npd)


def is_text_dtype(name: str | None) -> bool:
    return name is not None and name.lower() in TEXT_DTYPES


def is_reference_dtype(name: str | None) -> bool:
    return name is not None and name.lower() in REFERENCE_DTYPES


def numpy_dtype_for_spec(name: str) -> np.dtype:
    """numpy dtype of a numeric spec dtype name; raise ``UnsupportedDtypeError`` otherwise."""
    key = name.lower()
    if key in SPEC_TO_NUMPY:
        return np.dtype(SPEC_TO_NUMPY[key])
    try:
        npd = np.dtype(name)
    except TypeError as exc:
        raise UnsupportedDtypeError(f"unsupported dtype {name!r}") from exc
    check_storable_numpy_dtype(npd, name)
    return npd


def check_storable_numpy_dtype(npd: np.dtype, what: str) -> None:
    """Refuse numpy dtypes no layout stores (complex, datetime64, void without fields...)."""
    if npd.kind in "biuf":
        if npd.itemsize > 8:
            raise UnsupportedDtypeError(f"{what}: dtype {npd} (more than 64 bits) is not supported")
        return
    if npd.kind in "USO" or npd.names is not None:
        return
    raise UnsupportedDtypeError(f"{what}: dtype {npd} is not supported (numeric, bool, text or compound only)")

