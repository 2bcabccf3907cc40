"""Reading and writing a small numeric array held in one chunk straight from its ``zarr.json`` (docs/format.md,
"Reading a store, step by step", step 5).

The first read of an array through zarr builds its metadata objects, codec pipeline and array: about
1 ms, against 0.3 ms for h5py to open and read a small dataset.  Most arrays of an NWB file are small
numeric ones in a single chunk, stored as little-endian bytes, blosc-compressed or not: for exactly
those documents we locate and decode the chunk ourselves (numcodecs' blosc, the header checked as
``safe_codecs`` does).  Any other document (another codec, grid, key encoding, transformer or data
type), a missing chunk (fill value) or a chunk that does not decode returns None: zarr's path reads
it and names what is wrong.  Writes of thousands of such arrays likewise skip opening a zarr array
per array (``encode_single``: the same bytes zarr writes).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .safe_codecs import check_blosc_chunk, check_raw_chunk

#: The largest chunk read this way: latency matters for small arrays; large ones go through the
#: chunk-parallel path.
MAX_BYTES = 1 << 20
NUMERIC_TYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                           "float16", "float32", "float64"})


@dataclass(frozen=True)
class SingleChunk:
    """Where an array's only chunk is (``key``, relative to the array) and how to decode it."""

    key: str
    dtype: np.dtype
    shape: tuple[int, ...]
    blosc: bool

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def single_chunk_of(doc: dict[str, Any]) -> SingleChunk | None:
    """The chunk of a small numeric v3 array (a scalar too) whose only chunk covers it, or None (read
    through zarr)."""
    if doc.get("zarr_format") != 3 or doc.get("node_type") != "array" or doc.get("storage_transformers"):
        return None
    name = doc.get("data_type")
    shape = doc.get("shape")
    if not isinstance(name, str) or name not in NUMERIC_TYPES or not _positive_ints(shape):
        return None
    grid = doc.get("chunk_grid")
    if grid != {"name": "regular", "configuration": {"chunk_shape": shape}}:
        return None
    key = _first_chunk_key(doc.get("chunk_key_encoding"), len(shape))
    codecs = _blosc_after_bytes(doc.get("codecs"))
    if key is None or codecs is None:
        return None
    blosc, endian = codecs
    dtype = _stored_dtype(name)
    if endian is None and dtype.itemsize > 1:  # zarr refuses a multi-byte type without a byte order
        return None
    plan = SingleChunk(key=key, dtype=dtype, shape=tuple(shape), blosc=blosc)
    return plan if plan.nbytes <= MAX_BYTES else None


@functools.lru_cache(maxsize=64)
def _stored_dtype(name: str) -> np.dtype:
    """The little-endian numpy type of a v3 numeric ``data_type`` name."""
    return np.dtype(name).newbyteorder("<")


def decode_single(plan: SingleChunk, raw: Any) -> np.ndarray:
    """The array's values from its chunk's stored bytes; ``ChunkSizeError`` when they do not fit it."""
    source = np.frombuffer(raw, dtype="u1")
    nbytes = plan.nbytes
    if plan.blosc:
        check_blosc_chunk(source, nbytes)
        from numcodecs import blosc

        out = np.empty(plan.shape, dtype=plan.dtype)
        blosc.decompress(source, out.reshape(-1).view("u1"))
    else:
        check_raw_chunk(source, nbytes)
        out = source.view(plan.dtype).reshape(plan.shape).copy()
    return out if sys.byteorder == "little" else out.astype(plan.dtype.newbyteorder("="))


def _positive_ints(shape: Any) -> bool:
    return isinstance(shape, list) and all(type(n) is int and n > 0 for n in shape)  # [] is a scalar


def _first_chunk_key(encoding: Any, ndim: int) -> str | None:
    """Key of chunk (0, ..., 0) under the ``default`` key encoding, else None."""
    if not isinstance(encoding, dict) or encoding.get("name") != "default":
        return None
    config = encoding.get("configuration", {})
    separator = config.get("separator", "/") if isinstance(config, dict) else None
    if separator not in ("/", ".") or (isinstance(config, dict) and set(config) - {"separator"}):
        return None
    return separator.join(["c"] + ["0"] * ndim)


def _blosc_after_bytes(codecs: Any) -> tuple[bool, str | None] | None:
    """(whether blosc follows, the byte order) for [bytes (little-endian or none), blosc] or [bytes]
    alone, else None."""
    if not isinstance(codecs, list) or not 1 <= len(codecs) <= 2:
        return None
    first = codecs[0]
    if not isinstance(first, dict) or first.get("name") != "bytes":
        return None
    config = first.get("configuration", {})
    if not isinstance(config, dict) or set(config) - {"endian"}:
        return None
    endian = config.get("endian", sys.byteorder)  # absent: this machine's order, as zarr reads it
    if endian not in ("little", None):
        return None
    if len(codecs) == 1:
        return False, endian
    second = codecs[1]
    return (True, endian) if isinstance(second, dict) and second.get("name") == "blosc" else None


_SHUFFLES = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def encode_single(doc: dict[str, Any], values: np.ndarray) -> tuple[str, bytes] | None:
    """(chunk key, stored bytes) of a small numeric one-chunk array written without zarr's objects (the
    inverse of ``decode_single``; blosc with the document's own settings), or None: write through zarr."""
    plan = single_chunk_of(doc)
    if plan is None or values.shape != plan.shape:
        return None
    compressor = _blosc_compressor(_blosc_settings(doc["codecs"][1].get("configuration"))) if plan.blosc else None
    if plan.blosc and compressor is None:
        return None
    return plan.key, _stored_bytes(plan.dtype, compressor, values)


def single_chunk_encoder(template: dict[str, Any], ndim: int) -> Callable[[np.ndarray], tuple[str, bytes] | None] | None:
    """``encode(values)``, giving what ``encode_single`` gives for ``template`` with shape and chunk shape both
    ``values.shape`` (of ``ndim`` dimensions), without reading the document again for each array; None when
    ``encode_single`` would not handle such documents. For writers of many arrays built from one template."""
    ones = [1] * ndim
    probe_doc = {**template, "shape": ones, "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": ones}}}
    probe = single_chunk_of(probe_doc)
    if probe is None:
        return None
    compressor = _blosc_compressor(_blosc_settings(template["codecs"][1].get("configuration"))) if probe.blosc else None
    if probe.blosc and compressor is None:
        return None
    key, dtype, itemsize = probe.key, probe.dtype, probe.dtype.itemsize

    def encode(values: np.ndarray) -> tuple[str, bytes] | None:
        shape = values.shape
        if len(shape) != ndim or not all(n > 0 for n in shape) or math.prod(shape) * itemsize > MAX_BYTES:
            return None
        return key, _stored_bytes(dtype, compressor, values)

    return encode


def _stored_bytes(dtype: np.dtype, compressor: Any, values: np.ndarray) -> bytes:
    data = np.ascontiguousarray(values, dtype=dtype)  # zarr casts to the stored type the same way
    return compressor.encode(data) if compressor is not None else data.tobytes()


def _blosc_settings(config: Any) -> tuple | None:
    """A hashable form of a blosc configuration with every setting zarr writes, else None."""
    names = ("cname", "clevel", "shuffle", "typesize", "blocksize")
    if not isinstance(config, dict) or set(config) != set(names):
        return None
    return tuple(config[n] for n in names)


@functools.lru_cache(maxsize=64)
def _blosc_compressor(settings: tuple | None) -> Any:
    """numcodecs' Blosc for (cname, clevel, shuffle, typesize, blocksize), as zarr's BloscCodec builds it."""
    if settings is None:
        return None
    from numcodecs import Blosc

    cname, clevel, shuffle, typesize, blocksize = settings
    from numcodecs import blosc

    if shuffle not in _SHUFFLES or cname not in blosc.list_compressors():
        return None
    try:
        return Blosc(cname=cname, clevel=clevel, shuffle=_SHUFFLES[shuffle], blocksize=blocksize, typesize=typesize)
    except (TypeError, ValueError):
        return None
