"""Object arrays of the legacy layout (Zarr v2 ``|O``), read and written chunk by chunk.

zarr-python 3 cannot open v2 arrays whose object codec is ``pickle`` or ``json2``; nwbzarr decodes
them itself, lazily (a chunk is fetched and decoded only when a selection touches it), and pickled
chunks go through a restricted unpickler that rebuilds only what hdmf-zarr wrote: numpy arrays and
dtypes, builtin containers and the ``ZarrReference`` class.  Text (``vlen-utf8``/``vlen-bytes``)
takes the same path so that every legacy object array behaves alike.
"""

from __future__ import annotations

import itertools
import json
import math
import pickle
from typing import Any

import numcodecs
import numpy as np
from zarr.abc.store import Store
from zarr.buffer import default_buffer_prototype

from .._private_api import bounded_map
from ..storage.remote import get_value
from .base import FormatError, to_buffer
from .chunks import normalise_selection
from .corrupt import ChunkError, chunk_error, store_name
from .safe_codecs import ChunkSizeError, object_chunk_limit, v2_chain
from .unpickle import PickleTooLargeError, RestrictedUnpickler, UnsafePickleError, restricted_loads

__all__ = [
    "BrokenArray",
    "ObjectArray",
    "PickleTooLargeError",
    "RestrictedUnpickler",
    "UnsafePickleError",
    "normalise_selection",
    "restricted_loads",
]

OBJECT_CODECS = frozenset({"pickle", "json2", "json", "vlen-utf8", "vlen-bytes", "vlen-array", "msgpack2"})


# --- object codecs -------------------------------------------------------------------------------
def json2_encode(values: np.ndarray) -> bytes:
    """numcodecs' ``json2`` chunk encoding: the elements (nested lists), then dtype and shape."""
    return numcodecs.JSON().encode(values)


def _decode_object_codec(codec_id: str, config: dict, data: Any, elements: int, itemsize: int) -> Any:
    """One object chunk decoded by its object codec, refusing a declared element count that is not the
    chunk's before anything is allocated for it."""
    if codec_id == "pickle":
        return restricted_loads(data, elements * max(itemsize, 8))
    if codec_id in ("vlen-utf8", "vlen-bytes", "vlen-array"):
        _check_vlen_header(data, elements, codec_id)
    if codec_id in ("json2", "json"):
        items = json.loads(bytes(data).decode(config.get("encoding", "utf-8")))
        if codec_id == "json":  # numcodecs' old json codec: {"items", "dtype", "shape"} or similar
            return items
        return _json2_items(items)
    if codec_id in ("vlen-utf8", "vlen-bytes", "vlen-array", "msgpack2"):
        return numcodecs.get_codec(config).decode(data)
    raise FormatError(f"unsupported object codec {codec_id!r}")


def _check_vlen_header(data: Any, elements: int, codec_id: str) -> None:
    raw = memoryview(data).cast("B")
    if len(raw) < 4:
        raise ChunkSizeError(f"the {codec_id} data is {len(raw)} bytes, shorter than its header")
    declared = int.from_bytes(raw[:4], "little")
    if declared != elements:
        raise ChunkSizeError(f"the {codec_id} header declares {declared} elements where the chunk holds {elements}")


def _json2_items(items: Any) -> np.ndarray:
    if not isinstance(items, list) or len(items) < 2:
        raise FormatError("json2 chunk is not a list ending with dtype and shape")
    shape = tuple(items[-1]) if isinstance(items[-1], list) else ()
    elements = items[:-2] if shape else items[:1]
    out = np.empty(shape, dtype=object)
    if not shape:
        out[()] = elements[0]
        return out
    _fill_nested(out, elements)
    return out


def _fill_nested(out: np.ndarray, elements: list) -> None:
    if out.ndim == 1:
        if len(elements) != out.shape[0]:
            raise FormatError(f"json2 chunk holds {len(elements)} elements where {out.shape[0]} were expected")
        for i, value in enumerate(elements):
            out[i] = value
        return
    for i, sub in enumerate(elements):
        _fill_nested(out[i], sub)


# --- the array -------------------------------------------------------------------------------------
class ObjectArray:
    """A Zarr v2 object array (``|O`` or a compound with object fields), decoded chunk by chunk.

    ``getitem``/``setitem`` take numpy-style selections; only the chunks a selection touches are
    fetched and decoded.  Element values stay Python objects (``str``, ``bytes``, dicts, rows).
    """

    def __init__(self, store: Store, path: str, zarray: dict, dtype: np.dtype, where: str) -> None:
        self.store = store
        self.path = path
        self.where = where
        self.shape = tuple(int(s) for s in zarray["shape"])
        chunks = zarray.get("chunks") or list(self.shape)
        self.chunks = tuple(max(1, int(c)) for c in chunks)
        if len(self.chunks) != len(self.shape):
            raise FormatError(f"{where}: .zarray chunks {chunks} do not match shape {list(self.shape)}")
        self.dtype = dtype
        self.order = zarray.get("order", "C")
        self.separator = zarray.get("dimension_separator") or "."
        self.filters = list(zarray.get("filters") or [])
        self.compressor = zarray.get("compressor")
        if not self.filters or self.filters[0].get("id") not in OBJECT_CODECS:
            raise FormatError(f"{where}: object array without an object codec (filters {self.filters})")
        self._elements = math.prod(self.chunks)
        self._plain_filters, self._compressor = v2_chain(self.filters[1:], self.compressor or None, None,
                                                         object_chunk_limit(self._elements))

    # --- geometry ---------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    def chunk_key(self, index: tuple[int, ...]) -> str:
        name = self.separator.join(str(i) for i in index) if index else "0"
        return f"{self.path}/{name}" if self.path else name

    def _chunk_ranges(self, box: list[tuple[int, int]]) -> list[range]:
        return [range(lo // c, (hi - 1) // c + 1) if hi > lo else range(0) for (lo, hi), c in zip(box, self.chunks)]

    # --- reading ------------------------------------------------------------------------------
    async def getitem(self, selection: Any) -> np.ndarray:
        box, rel = normalise_selection(selection, self.shape, self.where)
        block = await self._read_box(box)
        return block[rel]

    async def _read_box(self, box: list[tuple[int, int]]) -> np.ndarray:
        out = np.empty(tuple(hi - lo for lo, hi in box), dtype=self.dtype)
        async def one(index: tuple[int, ...]) -> None:
            chunk = await self.read_chunk(index)
            src, dst = _overlap(index, self.chunks, box)
            out[dst] = chunk[src]

        await bounded_map(((i,) for i in itertools.product(*self._chunk_ranges(box))), one)
        return out

    async def read_chunk(self, index: tuple[int, ...]) -> np.ndarray:
        """One chunk, decoded to its full chunk shape (fill values where it was never written)."""
        key = self.chunk_key(index)
        buf = await get_value(self.store, key, default_buffer_prototype())  # remote: shared request limit
        if buf is None:
            return self._fill_chunk()
        try:
            return self.decode_chunk(buf.to_bytes())
        except UnsafePickleError as exc:
            raise UnsafePickleError(f"dataset {self.where}, chunk {key!r}: {exc}") from None
        except FormatError as exc:  # nwbzarr's size checks: the chunk is damaged (or hostile)
            raise ChunkError(f"{store_name(self.store)}: dataset {self.where}, chunk {key!r}: cannot be decoded: {exc}") from None
        except Exception as exc:
            raise chunk_error(self.store, self.path, key, exc) from None

    def decode_chunk(self, data: bytes) -> np.ndarray:
        if self._compressor is not None:
            data = self._compressor.decode(data)
        for codec in reversed(self._plain_filters):
            data = codec.decode(data)
        first = self.filters[0]
        values = _decode_object_codec(first["id"], first, data, self._elements, self.dtype.itemsize)
        return self._as_chunk(values)

    def _as_chunk(self, values: Any) -> np.ndarray:
        if not isinstance(values, np.ndarray):
            raise FormatError(f"decoded chunk is a {type(values).__name__}, not an array")
        if values.size != int(np.prod(self.chunks)):
            raise FormatError(f"decoded chunk holds {values.size} elements, expected {int(np.prod(self.chunks))}")
        values = values.reshape(self.chunks, order=self.order)
        if self.dtype.names is None:
            return values.astype(object, copy=False) if values.dtype != object else values
        return rows_to_struct(values, self.dtype)

    def _fill_chunk(self) -> np.ndarray:
        out = np.empty(self.chunks, dtype=self.dtype)
        if self.dtype.names is None:
            out.fill(None)
        return out

    # --- writing ------------------------------------------------------------------------------
    async def setitem(self, selection: Any, values: Any) -> None:
        box, rel = normalise_selection(selection, self.shape, self.where)
        if not all(isinstance(r, (slice, int)) for r in rel):
            raise FormatError(f"{self.where}: writing through an index list is not supported")
        box_shape = tuple(hi - lo for lo, hi in box)
        sel_shape = np.empty(box_shape, dtype=np.int8)[rel].shape
        block = np.empty(box_shape, dtype=self.dtype)
        prepared = broadcast_objects(values, sel_shape, self.dtype)
        block[rel] = prepared[()] if not sel_shape else prepared

        async def one(index: tuple[int, ...]) -> None:
            src, dst = _overlap(index, self.chunks, box)
            chunk = self._fill_chunk() if _covers(src, self.chunks) else await self.read_chunk(index)
            chunk[src] = block[dst]
            await self.store.set(self.chunk_key(index), to_buffer(self.encode_chunk(chunk)))

        await bounded_map(((i,) for i in itertools.product(*self._chunk_ranges(box))), one)

    def encode_chunk(self, chunk: np.ndarray) -> bytes:
        first = self.filters[0]
        if first["id"] in ("json2", "json"):
            data: Any = json2_encode(struct_to_rows(chunk) if chunk.dtype.names else chunk)
        elif first["id"] == "pickle":
            data = pickle.dumps(chunk, protocol=first.get("protocol", 5))
        else:
            data = numcodecs.get_codec(dict(first)).encode(chunk)
        for codec in self._plain_filters:
            data = codec.encode(data)
        if self._compressor is not None:
            data = self._compressor.encode(data)
        return bytes(data)


class BrokenArray:
    """Stands for a dataset whose metadata cannot be used: every read raises the reason, naming it."""

    def __init__(self, where: str, reason: str, shape: tuple[int, ...] = (0,)) -> None:
        self.where = where
        self.reason = reason
        self.shape = tuple(shape) or (0,)
        self.chunks = tuple(max(1, s) for s in self.shape)
        self.dtype = np.dtype(object)

    async def getitem(self, selection: Any) -> np.ndarray:
        raise FormatError(f"dataset {self.where} cannot be read: {self.reason}")

    async def setitem(self, selection: Any, values: Any) -> None:
        raise FormatError(f"dataset {self.where} cannot be written: {self.reason}")


def _overlap(index: tuple[int, ...], chunks: tuple[int, ...], box: list[tuple[int, int]]) -> tuple[tuple, tuple]:
    """(slices in the chunk, slices in the box) of the part of chunk ``index`` inside ``box``."""
    src, dst = [], []
    for i, c, (lo, hi) in zip(index, chunks, box):
        c0 = i * c
        a, b = max(lo, c0), min(hi, c0 + c)
        src.append(slice(a - c0, b - c0))
        dst.append(slice(a - lo, b - lo))
    return tuple(src), tuple(dst)


def _covers(src: tuple, chunks: tuple[int, ...]) -> bool:
    return all(s.start == 0 and s.stop == c for s, c in zip(src, chunks))


# --- element conversions --------------------------------------------------------------------------
def rows_to_struct(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Rows (tuples, lists, ``np.void``) of an object array as a structured array of ``dtype``."""
    if values.dtype.names is not None:
        if values.dtype == dtype:
            return values
        out = np.empty(values.shape, dtype=dtype)
        for name in dtype.names:
            out[name] = values[name]
        return out
    out = np.empty(values.shape, dtype=dtype)
    flat_in, flat_out = values.reshape(-1), out.reshape(-1)
    width = len(dtype.names)
    for i, row in enumerate(flat_in):
        items = tuple(row.tolist()) if isinstance(row, np.void) else tuple(row) if row is not None else None
        if items is None or len(items) != width:
            raise FormatError(f"row {i} of a compound chunk is {row!r}, expected {width} fields")
        flat_out[i] = items
    return out


def struct_to_rows(values: np.ndarray) -> np.ndarray:
    """A structured array as an object array of lists (how ``json2`` stores compound rows)."""
    out = np.empty(values.shape, dtype=object)
    flat_in, flat_out = values.reshape(-1), out.reshape(-1)
    for i, row in enumerate(flat_in):
        flat_out[i] = [_plain(v) for v in row.tolist()]
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def broadcast_objects(values: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``values`` as an array of ``shape`` without numpy reading dicts or rows as extra dimensions."""
    if isinstance(values, np.ndarray) and (values.dtype == dtype or (values.dtype.names and dtype.names)):
        arr = values if values.dtype == dtype else rows_to_struct(values, dtype)
        return np.broadcast_to(arr, shape)
    if isinstance(values, np.ndarray) and values.dtype.kind != "O" and dtype.names is None:
        return np.broadcast_to(values.astype(object), shape)
    out = np.empty(shape, dtype=dtype)
    if not shape:
        out[()] = _row(values, dtype)
        return out
    if isinstance(values, np.ndarray) and values.shape == shape:
        flat = values.reshape(-1)
    elif isinstance(values, (list, tuple)) and _nested_len_matches(values, shape):
        flat = list(_flatten(values, len(shape)))
    else:
        single = np.empty((), dtype=dtype)
        single[()] = _row(values, dtype)
        return np.broadcast_to(single, shape)
    dest = out.reshape(-1)
    for i, v in enumerate(flat):
        dest[i] = _row(v, dtype)
    return out


def _row(value: Any, dtype: np.dtype) -> Any:
    if dtype.names is None:
        return value
    if isinstance(value, np.void):
        return tuple(value.tolist())
    return tuple(value)


def _nested_len_matches(values: Any, shape: tuple[int, ...]) -> bool:
    return len(values) == shape[0]


def _flatten(values: Any, depth: int):
    if depth == 1:
        yield from values
        return
    for v in values:
        yield from _flatten(v, depth - 1)
