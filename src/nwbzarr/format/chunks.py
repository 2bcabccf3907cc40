"""Encoding a whole small array as its single chunk, synchronously, with zarr's own codec objects.

zarr's async pipeline costs about 0.5 ms of bookkeeping per array (thread hops, selections): for files
of thousands of small arrays that dominates.  Every codec zarr ships encodes synchronously too (``_private_api``); when
all of an array's codecs do and the array is one chunk, we run them in order ourselves and hand the
bytes to the store in one batch.  Anything else (sharding, wrapped numcodecs) returns None and goes
through zarr's ``setitem``.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from zarr import AsyncArray
from zarr.buffer import default_buffer_prototype

from .._private_api import array_config, chunk_spec, codecs_run_sync, decode_sync, encode_sync, fast_path_off


def single_chunk_bytes(array: AsyncArray, values: np.ndarray) -> tuple[str, Any] | None:
    """(chunk key, encoded Buffer) for an array held in exactly one chunk, or None to use zarr's path."""
    metadata = array.metadata
    shape = tuple(metadata.shape)
    chunk_shape = _chunk_shape(metadata)
    if chunk_shape is None or tuple(chunk_shape) != shape or values.shape != shape:
        return None
    codecs = getattr(metadata, "codecs", None)
    if not codecs or not codecs_run_sync(codecs, "encode"):
        return None
    prototype = default_buffer_prototype()
    coords = (0,) * len(shape)
    spec = _first_chunk_spec(metadata, lambda: array_config(array), prototype)
    if spec is None:
        return None
    try:
        chunk: Any = prototype.nd_buffer.from_numpy_array(_as_storage_dtype(values, spec))
        for codec in codecs:
            if chunk is None:
                return None
            chunk = encode_sync(codec, chunk, spec)
            spec = codec.resolve_metadata(spec)
    except (TypeError, ValueError, AttributeError, NotImplementedError):
        return None
    if chunk is None:
        return None
    return metadata.encode_chunk_key(coords), chunk


def chunk_encoder(array: AsyncArray) -> Any:
    """A thread-safe ``encode(coords, values, scratch=None) -> (chunk key, Buffer)`` for this array, or None.

    Values are the chunk's region of the array; edge chunks are padded with the fill value, as zarr
    stores them.  ``scratch`` (from ``chunk_scratch``) receives the contiguous copy instead of a new
    allocation: fresh pages cost more than the copy itself.  The returned Buffer may alias ``scratch``
    (no compressor), so the caller must consume it before reusing the scratch.
    None when a codec has no sync path (sharding, wrapped numcodecs): use zarr's setitem.
    """
    found = _sync_pipeline(array, "encode")
    if found is None:
        return None
    metadata, chunk_shape, codecs, prototype, first_spec = found
    native = first_spec.dtype.to_native_dtype() if hasattr(first_spec.dtype, "to_native_dtype") else None
    fill = metadata.fill_value
    full_shape = tuple(chunk_shape)

    def encode(coords: tuple[int, ...], values: np.ndarray, scratch: np.ndarray | None = None) -> tuple[str, Any]:
        block = values if native is None or values.dtype == native else values.astype(native)
        usable = scratch is not None and scratch.shape == full_shape and scratch.dtype == block.dtype
        if block.shape != full_shape:
            padded = scratch if usable else np.empty(full_shape, dtype=block.dtype)
            padded[...] = fill
            padded[tuple(slice(0, n) for n in block.shape)] = block
            block = padded
        elif usable:
            np.copyto(scratch, block)
            block = scratch
        spec = first_spec
        chunk: Any = prototype.nd_buffer.from_numpy_array(np.ascontiguousarray(block))
        for codec in codecs:
            chunk = encode_sync(codec, chunk, spec)
            spec = codec.resolve_metadata(spec)
        return metadata.encode_chunk_key(coords), chunk

    return encode


def _sync_pipeline(array: AsyncArray, direction: str) -> tuple | None:
    """(metadata, chunk shape, codecs, prototype, first chunk's spec) when every codec of a regular-grid
    array runs synchronously in ``direction`` ("encode"/"decode"), else None."""
    metadata = array.metadata
    chunk_shape = _chunk_shape(metadata)
    codecs = getattr(metadata, "codecs", None)
    if chunk_shape is None or not codecs or not codecs_run_sync(codecs, direction):
        return None
    prototype = default_buffer_prototype()
    spec = _first_chunk_spec(metadata, lambda: array_config(array), prototype)
    if spec is None:
        return None
    return metadata, chunk_shape, codecs, prototype, spec


def _first_chunk_spec(metadata: Any, config: Any, prototype: Any) -> Any:
    """The spec of chunk (0, ...) of a regular grid, or None; when zarr's internals no longer build it
    (``_private_api.chunk_spec``/``array_config``), the direct codec paths are off: warned once."""
    try:
        return chunk_spec(metadata, (0,) * len(metadata.shape), config(), prototype)
    except NotImplementedError:  # no regular chunk grid: zarr's own path is the right one
        return None
    except (TypeError, ValueError, AttributeError) as exc:
        fast_path_off("direct chunk encoding and decoding", f"no chunk spec: {type(exc).__name__}: {exc}")
        return None


_SCRATCH = threading.local()


def chunk_scratch(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """This thread's reusable buffer for one chunk of ``shape`` and ``dtype`` (kept while it matches)."""
    current = getattr(_SCRATCH, "buffer", None)
    if current is None or current.shape != tuple(shape) or current.dtype != dtype:
        current = np.empty(shape, dtype=dtype)
        _SCRATCH.buffer = current
    return current


def chunk_regions(shape: tuple[int, ...], chunk_shape: tuple[int, ...]):
    """(coords, region slices) of every chunk of an array, in C order."""
    import itertools

    grid = [range(-(-s // c)) for s, c in zip(shape, chunk_shape)]
    for coords in itertools.product(*grid):
        yield coords, tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(coords, chunk_shape, shape))


def _chunk_shape(metadata: Any) -> tuple[int, ...] | None:
    grid = getattr(metadata, "chunk_grid", None)
    return getattr(grid, "chunk_shape", None)


def _as_storage_dtype(values: np.ndarray, spec: Any) -> np.ndarray:
    """Values in the numpy dtype zarr keeps in memory for this data type (e.g. StringDType for text)."""
    native = spec.dtype.to_native_dtype() if hasattr(spec.dtype, "to_native_dtype") else spec.dtype
    if isinstance(native, np.dtype) and values.dtype != native:
        return values.astype(native)
    return values


def decode_single_chunk(metadata: Any, raw: Any, config: Any) -> np.ndarray | None:
    """Decode the only chunk of an array with zarr's sync codecs; None when a codec has no sync path."""
    codecs = getattr(metadata, "codecs", None)
    if not codecs or not codecs_run_sync(codecs, "decode"):
        return None
    shape = tuple(metadata.shape)
    chunk_shape = _chunk_shape(metadata)
    if chunk_shape is None or tuple(chunk_shape) != shape:
        return None
    prototype = default_buffer_prototype()
    spec = _first_chunk_spec(metadata, lambda: config, prototype)
    if spec is None:
        return None
    try:
        specs = []
        for codec in codecs:
            specs.append(spec)
            spec = codec.resolve_metadata(spec)
        chunk: Any = raw
        for codec, codec_spec in zip(reversed(codecs), reversed(specs)):
            chunk = decode_sync(codec, chunk, codec_spec)
        return chunk.as_numpy_array()
    except (TypeError, ValueError, AttributeError, NotImplementedError):
        return None


def chunk_decoder(array: AsyncArray) -> Any:
    """A thread-safe ``decode(raw Buffer) -> numpy chunk`` for this array, or None (use zarr's getitem)."""
    found = _sync_pipeline(array, "decode")
    if found is None:
        return None
    _, _, codecs, _, spec = found
    specs = []
    for codec in codecs:
        specs.append(spec)
        spec = codec.resolve_metadata(spec)
    pairs = list(zip(reversed(codecs), reversed(specs)))

    def decode(raw: Any) -> np.ndarray:
        chunk = raw
        for codec, codec_spec in pairs:
            chunk = decode_sync(codec, chunk, codec_spec)
        return chunk.as_numpy_array()

    return decode


def basic_selection(key: Any, shape: tuple[int, ...]) -> tuple[tuple[slice, ...], tuple[int, ...]] | None:
    """(step-1 slices per dimension, dimensions indexed by an integer) for basic keys, else None."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (len(shape) - len(key) + 1) + key[i + 1:]
    if len(key) > len(shape):
        return None
    key = key + (slice(None),) * (len(shape) - len(key))
    slices, dropped = [], []
    for dim, (k, n) in enumerate(zip(key, shape)):
        if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            i = int(k) + n if k < 0 else int(k)
            if not 0 <= i < n:
                raise IndexError(f"index {k} is out of bounds for axis {dim} with size {n}")
            slices.append(slice(i, i + 1))
            dropped.append(dim)
        elif isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step != 1:
                return None
            slices.append(slice(start, max(start, stop)))
        else:
            return None
    return tuple(slices), tuple(dropped)


def normalise_selection(selection: Any, shape: tuple[int, ...], where: str) -> tuple[list[tuple[int, int]], tuple]:
    """(bounding box per dimension, selection relative to that box) for a numpy-style selection."""
    sel = selection if isinstance(selection, tuple) else (selection,)
    if any(s is None for s in sel):
        raise IndexError(f"{where}: np.newaxis is not supported")
    if sum(1 for s in sel if s is Ellipsis) > 1:
        raise IndexError(f"{where}: more than one Ellipsis")
    if Ellipsis in [s for s in sel if not isinstance(s, np.ndarray)]:
        at = next(i for i, s in enumerate(sel) if not isinstance(s, np.ndarray) and s is Ellipsis)
        fill = len(shape) - (len(sel) - 1)
        sel = sel[:at] + (slice(None),) * fill + sel[at + 1:]
    if len(sel) > len(shape):
        raise IndexError(f"{where}: too many indices ({len(sel)}) for {len(shape)} dimensions")
    sel = sel + (slice(None),) * (len(shape) - len(sel))
    box, rel = [], []
    for dim, (s, n) in enumerate(zip(sel, shape)):
        lo, hi, r = _one_dimension(s, n, where, dim)
        box.append((lo, hi))
        rel.append(r)
    return box, tuple(rel)


def _one_dimension(s: Any, n: int, where: str, dim: int) -> tuple[int, int, Any]:
    if isinstance(s, (int, np.integer)):
        i = int(s) + n if int(s) < 0 else int(s)
        if not 0 <= i < n:
            raise IndexError(f"index {int(s)} is out of bounds for axis {dim} of {where} with size {n}")
        return i, i + 1, 0
    if isinstance(s, slice):
        start, stop, step = s.indices(n)
        if step > 0:
            stop = max(start, stop)
            return start, stop, slice(0, stop - start, step)
        idx = np.arange(start, stop, step)
        if idx.size == 0:
            return 0, 0, slice(0, 0)
        return int(idx.min()), int(idx.max()) + 1, idx - int(idx.min())
    arr = np.asarray(s)
    if arr.dtype == bool:
        arr = np.nonzero(arr)[0]
    if arr.dtype.kind not in "iu":
        raise IndexError(f"{where}: unsupported index {s!r}")
    arr = np.where(arr < 0, arr + n, arr)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise IndexError(f"index out of bounds for axis {dim} of {where} with size {n}")
    if arr.size == 0:
        return 0, 0, arr
    lo = int(arr.min())
    return lo, int(arr.max()) + 1, arr - lo


def chunk_decoder_into(array: AsyncArray) -> Any:
    """``decode_into(raw, dest)`` writing one chunk's values into ``dest`` (a uint8 buffer of at least
    ``chunk_nbytes``), for arrays stored as native-order bytes, blosc-compressed (the default codec) or
    not; else None.  Uncompressed chunks are returned as a view of ``raw``, to be copied out at once.

    Decoding into a reused buffer spares a fresh allocation per chunk, whose page faults cost more than
    the decoding on large chunks.  The blosc header is checked first, as ``safe_codecs`` does for zarr's
    path: a chunk declaring another size than the metadata's chunk, or truncated, is refused.
    """
    import sys

    from numcodecs import blosc
    from zarr.codecs import BloscCodec, BytesCodec

    from .safe_codecs import check_blosc_chunk, check_raw_chunk

    metadata = array.metadata
    codecs = tuple(getattr(metadata, "codecs", ()) or ())
    chunk_shape = _chunk_shape(metadata)
    if chunk_shape is None or not 1 <= len(codecs) <= 2 or not isinstance(codecs[0], BytesCodec):
        return None
    compressed = len(codecs) == 2
    if compressed and not isinstance(codecs[1], BloscCodec):
        return None
    endian = getattr(codecs[0].endian, "value", codecs[0].endian)
    native = array.dtype.to_native_dtype() if hasattr(array.dtype, "to_native_dtype") else array.dtype
    if not isinstance(native, np.dtype) or native.kind not in "biuf" or endian not in (None, sys.byteorder):
        return None
    nbytes = int(np.prod(chunk_shape)) * native.itemsize

    def decode_into(raw: Any, dest: np.ndarray) -> np.ndarray:
        source = np.frombuffer(raw, dtype="u1")
        if not compressed:  # the stored bytes are the values: read in place, copied out by the caller
            check_raw_chunk(source, nbytes)
            return source.view(native).reshape(chunk_shape)
        check_blosc_chunk(source, nbytes)
        target = dest[:nbytes]
        blosc.decompress(source, target)
        return target.view(native).reshape(chunk_shape)

    decode_into.chunk_nbytes = nbytes if compressed else 0  # type: ignore[attr-defined]
    return decode_into
