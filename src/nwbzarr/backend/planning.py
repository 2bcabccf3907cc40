"""From HDMF builders to array specifications: dtype, shape, chunking and codecs of each dataset."""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import zarr
from hdmf.build import Builder, DatasetBuilder, ReferenceBuilder
from hdmf.data_utils import AbstractDataChunkIterator, DataIO
from hdmf.query import HDMFDataset

from ..format.base import ArraySpec
from ..format.dtypes import (
    UnsupportedDtypeError,
    check_storable_numpy_dtype,
    is_reference_dtype,
    is_text_dtype,
    numpy_dtype_for_spec,
    spec_dtype_name,
)
from .arrays import ZarrDataset
from .dataio import ZarrDataIO, hdf5_to_zarr_filters

TARGET_CHUNK_BYTES = 4 << 20  # auto chunks of about this size
SINGLE_CHUNK_BYTES = 16 << 20  # arrays below this are one chunk


@dataclass
class DatasetPlan:
    """How one DatasetBuilder is written: its array spec and where its values come from."""

    spec: ArraySpec
    values: Any = None  # in-memory values (already in the layout's encoding for refs/compounds)
    source: Any = None  # array-like copied block by block (h5py, zarr, lazy datasets)
    iterator: AbstractDataChunkIterator | None = None


def unwrap_dataio(data: Any) -> tuple[Any, dict[str, Any]]:
    """(raw data, io options) from ZarrDataIO / H5DataIO / plain data."""
    if isinstance(data, ZarrDataIO):
        opts = {
            "chunks": data.chunks,
            "fill_value": data.fillvalue,
            "filters": data.filters,
            "serializer": data.serializer,
            "shards": data.shards,
            "link_data": data.link_data,
        }
        if data.compressors is not None:  # None: nwbzarr's default codec; False or []: no compression
            opts["compressors"] = data.compressors if data.compressors is not False else []
        return data.data, opts
    if isinstance(data, DataIO):
        opts: dict[str, Any] = {}
        params = getattr(data, "io_settings", None) or {}
        if params.get("chunks") not in (None, True):
            opts["chunks"] = params["chunks"]
        if params.get("compression") == "gzip":
            import numcodecs

            opts["compressors"] = [numcodecs.GZip(level=params.get("compression_opts") or 4)]
        if params.get("fillvalue") is not None:
            opts["fill_value"] = params["fillvalue"]
        return data.data, opts
    return data, {}


def is_array_source(data: Any) -> bool:
    """Stored arrays copied block by block rather than held in memory."""
    return isinstance(data, (h5py.Dataset, zarr.Array, ZarrDataset)) or (
        isinstance(data, HDMFDataset) and hasattr(data, "shape")
    )


def guess_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """One chunk for small arrays; otherwise about 4 MiB, split along the first axis first."""
    if not shape:
        return ()
    shape = tuple(max(1, int(s)) for s in shape)
    total = int(np.prod(shape)) * max(itemsize, 1)
    if total <= SINGLE_CHUNK_BYTES:
        return shape
    chunks = list(shape)
    dim = 0
    while int(np.prod(chunks)) * itemsize > TARGET_CHUNK_BYTES and dim < len(chunks):
        rest = int(np.prod(chunks[dim + 1:])) * itemsize
        want = max(1, TARGET_CHUNK_BYTES // max(rest, 1))
        chunks[dim] = min(chunks[dim], want)
        if chunks[dim] > 1 or rest <= TARGET_CHUNK_BYTES:
            break
        dim += 1
    return tuple(chunks)


def resolve_shards(shards: Any, shape: tuple[int, ...], chunks: tuple[int, ...],
                   dtype: Any) -> tuple[int, ...] | None:
    """The shard shape to write: as given, or for ``"auto"`` the shape zarr itself picks (hdmf-zarr 0.14
    hands ``"auto"`` to zarr; nwbzarr needs the shape up front to plan the writes)."""
    if shards is None or not shape:
        return None
    if isinstance(shards, str):
        numeric = isinstance(dtype, np.dtype) and dtype.kind in "biuf"
        shards = _zarr_auto_shards(tuple(int(s) for s in shape), tuple(int(c) for c in chunks),
                                   dtype.str if numeric else "|u1")
    return tuple(int(s) for s in shards)


@functools.lru_cache(maxsize=256)
def _zarr_auto_shards(shape: tuple[int, ...], chunks: tuple[int, ...], dtype: str) -> tuple[int, ...]:
    """Ask zarr which shard shape it picks for ``"auto"`` (an empty array in memory; nothing is written)."""
    from zarr.storage import MemoryStore

    array = zarr.create_array(MemoryStore(), shape=tuple(max(1, s) for s in shape), dtype=dtype,
                              chunks=chunks, shards="auto", compressors=None)
    return tuple(array.shards or chunks)


def compound_numpy_dtype(dtype_specs: list, rows: list, ref_names: set[str]) -> np.dtype:
    """numpy dtype of a compound dataset; text and reference fields as fixed-width UTF-32."""
    from ..format.v3 import MIN_FIXED_TEXT

    fields = []
    for j, sub in enumerate(dtype_specs):
        name = sub["name"] if isinstance(sub, dict) else sub.name
        sub_dtype = sub["dtype"] if isinstance(sub, dict) else sub.dtype
        label = spec_dtype_name(sub_dtype)
        if name in ref_names or is_text_dtype(label) or label is None:
            width = MIN_FIXED_TEXT
            for row in rows:
                item = row[j] if not isinstance(row, dict) else row[name]
                width = max(width, len(_field_text(item)))
            fields.append((name, f"<U{width}"))
        else:
            fields.append((name, numpy_dtype_for_spec(label)))
    return np.dtype(fields)


def _field_text(item: Any) -> str:
    if isinstance(item, bytes):
        return item.decode("utf-8")
    if isinstance(item, str):
        return item
    return " " * 64 if item is not None else ""


def reference_field_names(builder: DatasetBuilder, rows: list) -> set[str]:
    """Compound field names that hold references (from the spec, or from the values)."""
    names = set()
    for j, sub in enumerate(builder.dtype or []):
        name = sub["name"] if isinstance(sub, dict) else sub.name
        sub_dtype = sub["dtype"] if isinstance(sub, dict) else sub.dtype
        if is_reference_dtype(spec_dtype_name(sub_dtype)) or (rows and isinstance(rows[0], (tuple, list, np.void)) and len(rows[0]) > j and \
                isinstance(rows[0][j], (Builder, ReferenceBuilder))):
            names.add(name)
    return names


def looks_like_references(data: Any, dtype_name: str | None) -> bool:
    if is_reference_dtype(dtype_name):
        return True
    if isinstance(data, (ReferenceBuilder, Builder)):
        return True
    if isinstance(data, (list, tuple)) and data:
        first = data[0]
        return isinstance(first, (ReferenceBuilder, Builder))
    return False


def text_values(data: Any) -> np.ndarray:
    """Text values as an object array of ``str`` (bytes decoded, datetimes in ISO-8601)."""
    arr = np.empty(np.shape(data) if not isinstance(data, (str, bytes)) else (), dtype=object)
    if arr.ndim == 0:
        arr[()] = as_text(data if not isinstance(data, np.ndarray) else data[()])
        return arr
    flat = arr.reshape(-1)
    for i, item in enumerate(np.asarray(data, dtype=object).reshape(-1)):
        flat[i] = as_text(item)
    return arr


def as_text(item: Any) -> str:
    if isinstance(item, bytes):
        return item.decode("utf-8")
    if isinstance(item, (datetime.datetime, datetime.date)):
        return item.isoformat()
    if isinstance(item, np.generic):
        return as_text(item.item())
    return str(item)


def numeric_values(data: Any, dtype_name: str | None, where: str) -> np.ndarray:
    """Numbers/bools as a numpy array of the spec dtype (or the data's own dtype)."""
    arr = np.asarray(data)
    if arr.dtype.kind in "biuf" and (dtype_name is None or dtype_name in ("numeric",)):
        check_storable_numpy_dtype(arr.dtype, where)
        return arr
    if dtype_name and dtype_name not in ("numeric",):
        target = numpy_dtype_for_spec(dtype_name)
        # hdmf has already converted to the spec dtype where needed: keep wider dtypes as given
        if (arr.dtype.kind in "biuf" and arr.dtype != target and arr.size
                and np.can_cast(target, arr.dtype) and arr.dtype.kind == target.kind):
            return arr
        return arr.astype(target) if arr.dtype != target else arr
    if arr.dtype.kind in "OSU":
        raise UnsupportedDtypeError(f"{where}: cannot store values of dtype {arr.dtype} as numbers")
    check_storable_numpy_dtype(arr.dtype, where)
    return arr


def element_kind(data: Any, dtype_name: str | None, where: str) -> str:
    """'string' or 'numeric' for non-reference, non-compound data."""
    if is_text_dtype(dtype_name):
        return "string"
    if dtype_name is not None and dtype_name not in ("numeric",):
        numpy_dtype_for_spec(dtype_name)  # raises for unknown names
        return "numeric"
    dt = getattr(data, "dtype", None)
    if dt is not None:
        npd = dt if isinstance(dt, np.dtype) else None
        if npd is not None:
            if npd.kind in "OSUT":
                return "string"
            check_storable_numpy_dtype(npd, where)
            return "numeric"
    sample = _first_element(data)
    if isinstance(sample, (str, bytes, datetime.date)):
        return "string"
    if sample is None and isinstance(data, (list, tuple)):
        return "numeric"
    arr = np.asarray(sample)
    if arr.dtype.kind in "OSU":
        if arr.dtype.kind == "O":
            raise UnsupportedDtypeError(f"{where}: cannot store values of type {type(sample).__name__}")
        return "string"
    check_storable_numpy_dtype(arr.dtype, where)
    return "numeric"


def _first_element(data: Any) -> Any:
    while isinstance(data, (list, tuple)):
        if not data:
            return None
        data = data[0]
    if isinstance(data, np.ndarray):
        return data.reshape(-1)[0] if data.size else None
    return data


def h5_source_options(source: Any) -> dict[str, Any]:
    """Chunks, fill value and codecs that keep an HDF5 dataset as it was stored."""
    opts: dict[str, Any] = {}
    if isinstance(source, h5py.Dataset):
        if source.chunks is not None:
            opts["chunks"] = source.chunks
        compressors, filters = hdf5_to_zarr_filters(source)
        if compressors or filters:
            opts["compressors"] = compressors
            opts["filters"] = filters or None
        if source.dtype.kind in "biuf" and source.fillvalue not in (None, 0):
            opts["fill_value"] = source.fillvalue
    elif isinstance(source, ZarrDataset):
        opts["chunks"] = source.chunks
    return opts
