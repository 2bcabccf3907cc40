"""Encoding a whole small array as its single chunk, synchronously, with zarr's own codec objects.

zarr's async pipeline costs about 0.5 ms of bookkeeping per array (thread hops, selections): for files
of thousands of small arrays that dominates.  Every codec zarr ships implements ``_encode_sync``; when
all of an array's codecs do and the array is one chunk, we run them in order ourselves and hand the
bytes to the store in one batch.  Anything else (sharding, wrapped numcodecs) returns None and goes
through zarr's ``setitem``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from zarr.core.array import AsyncArray
from zarr.core.buffer import default_buffer_prototype


def single_chunk_bytes(array: AsyncArray, values: np.ndarray) -> tuple[str, Any] | None:
    """(chunk key, encoded Buffer) for an array held in exactly one chunk, or None to use zarr's path."""
    metadata = array.metadata
    shape = tuple(metadata.shape)
    chunk_shape = _chunk_shape(metadata)
    if chunk_shape is None or tuple(chunk_shape) != shape or values.shape != shape:
        return None
    codecs = getattr(metadata, "codecs", None)
    if not codecs or not all(hasattr(c, "_encode_sync") and hasattr(c, "resolve_metadata") for c in codecs):
        return None
    prototype = default_buffer_prototype()
    coords = (0,) * len(shape)
    try:
        spec = metadata.get_chunk_spec(coords, _array_config(array), prototype)
        chunk: Any = prototype.nd_buffer.from_numpy_array(_as_storage_dtype(values, spec))
        for codec in codecs:
            if chunk is None:
                return None
            chunk = codec._encode_sync(chunk, spec)
            spec = codec.resolve_metadata(spec)
    except (TypeError, ValueError, AttributeError, NotImplementedError):
        return None
    if chunk is None:
        return None
    return metadata.encode_chunk_key(coords), chunk


def _chunk_shape(metadata: Any) -> tuple[int, ...] | None:
    grid = getattr(metadata, "chunk_grid", None)
    return getattr(grid, "chunk_shape", None)


def _array_config(array: AsyncArray) -> Any:
    config = getattr(array, "config", None)
    return config if config is not None else array._config


def _as_storage_dtype(values: np.ndarray, spec: Any) -> np.ndarray:
    """Values in the numpy dtype zarr keeps in memory for this data type (e.g. StringDType for text)."""
    native = spec.dtype.to_native_dtype() if hasattr(spec.dtype, "to_native_dtype") else spec.dtype
    if isinstance(native, np.dtype) and values.dtype != native:
        return values.astype(native)
    return values


def decode_single_chunk(metadata: Any, raw: Any, config: Any) -> np.ndarray | None:
    """Decode the only chunk of an array with zarr's sync codecs; None when a codec has no sync path."""
    codecs = getattr(metadata, "codecs", None)
    if not codecs or not all(hasattr(c, "_decode_sync") and hasattr(c, "resolve_metadata") for c in codecs):
        return None
    shape = tuple(metadata.shape)
    chunk_shape = _chunk_shape(metadata)
    if chunk_shape is None or tuple(chunk_shape) != shape:
        return None
    prototype = default_buffer_prototype()
    try:
        spec = metadata.get_chunk_spec((0,) * len(shape), config, prototype)
        specs = []
        for codec in codecs:
            specs.append(spec)
            spec = codec.resolve_metadata(spec)
        chunk: Any = raw
        for codec, codec_spec in zip(reversed(codecs), reversed(specs)):
            chunk = codec._decode_sync(chunk, codec_spec)
        return chunk.as_numpy_array()
    except (TypeError, ValueError, AttributeError, NotImplementedError):
        return None
