"""Damaged chunks: errors that name the store, the dataset and the chunk key instead of a bare codec error.

Reads stay as fast as before: nothing here runs unless a read has already failed. Then the chunks the
read touched are decoded one by one (``read_error``, the one probe) to find the one at fault.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from zarr import AsyncArray
from zarr.abc.store import Store
from zarr.buffer import default_buffer_prototype

from .._private_api import array_config, chunk_spec
from ..errors import ChunkError, CorruptChunkError
from .base import FormatError
from .chunks import normalise_selection

MAX_PROBED_CHUNKS = 10_000  # stored chunks (or shards) decoded one by one to find the damaged one


# selection errors, memory errors and errors that already name their chunk go through unchanged; any other
# error of a read (codecs' own, nwbzarr's size and pickle checks) starts the search for the chunk at fault
PASS_THROUGH = (IndexError, KeyError, MemoryError, CorruptChunkError)


def store_name(store: Store) -> str:
    """The directory, file or URL of a store, for error messages."""
    from zarr.storage import LocalStore

    if isinstance(store, LocalStore):
        return str(store.root)
    path = getattr(store, "path", None)
    if isinstance(path, str) and path and type(store).__name__ != "FsspecStore":
        return path
    return str(store)


def chunk_error(store: Store, path: str, key: str, exc: BaseException) -> CorruptChunkError:
    """The error for the chunk at store key ``key`` of dataset ``path`` that failed to decode with ``exc``."""
    return CorruptChunkError(
        f"{store_name(store)}: dataset /{path}: chunk {key!r} cannot be decoded ({type(exc).__name__}: {exc}); "
        "the chunk is damaged or truncated (restore the store from a copy, or rewrite the dataset)"
    )


async def read_error(array: AsyncArray, selection: Any, where: str | None = None) -> CorruptChunkError | None:
    """The error naming the first stored chunk under ``selection`` that does not decode, or decodes to another
    size than the array's metadata says; None when every one decodes or the store itself fails (a missing
    store, a dead server: their own errors are raised as they are). ``where`` names the dataset (default:
    its path in the store). Runs only after a read has failed, so reads that succeed pay nothing for it."""
    where = where or "/" + array.store_path.path
    try:
        return await _first_bad_chunk(array, selection, where)
    except Exception:  # the store failed while probing: not a damaged chunk
        return None


async def _first_bad_chunk(array: AsyncArray, selection: Any, where: str) -> CorruptChunkError | None:
    metadata = array.metadata
    shape = tuple(metadata.shape)
    grid = _storage_chunk_shape(metadata)
    if grid is None and shape:
        return None
    plain = grid is not None and grid == _chunk_shape(metadata)  # one stored object per chunk (not sharded)
    store, prefix = array.store_path.store, array.store_path.path
    prototype = default_buffer_prototype()
    for coords in itertools.islice(_chunks_under(selection, shape, grid or ()), MAX_PROBED_CHUNKS):
        key = metadata.encode_chunk_key(coords)
        key = f"{prefix}/{key}" if prefix else key
        raw = await store.get(key, prototype=prototype)  # the bytes first: a store that fails is not a bad chunk
        if raw is None:
            continue
        if plain:
            reason = await _decode_problem(array, coords, raw, prototype)
            if reason is not None:
                return ChunkError(f"{store_name(store)}: dataset {where}, chunk {key!r}: {reason}")
            continue
        region = tuple(slice(c * n, min(s, (c + 1) * n)) for c, n, s in zip(coords, grid or (), shape))
        try:  # a shard: zarr reads its inner chunks
            await AsyncArray.getitem(array, region if shape else ...)
        except PASS_THROUGH:
            continue
        except Exception as exc:
            return chunk_error(store, prefix, key, exc)
    return None


async def _decode_problem(array: AsyncArray, coords: tuple[int, ...], raw: Any, prototype: Any) -> str | None:
    """Why chunk ``coords`` (stored bytes ``raw``) does not decode to its chunk's size, or None."""
    spec = chunk_spec(array.metadata, coords, array_config(array), prototype)
    try:
        decoded = next(iter(await array.codec_pipeline.decode([(raw, spec)])))
    except FormatError as exc:  # nwbzarr's own checks (sizes, pickles) say what is wrong
        return str(exc)
    except Exception as exc:
        return f"cannot be decoded ({type(exc).__name__}: {exc})"
    size = decoded.as_numpy_array().size if decoded is not None else 0
    expected = math.prod(spec.shape)
    if size != expected:
        return f"decodes to {size} elements where the array's metadata makes a chunk {expected}"
    return None


def _chunk_shape(metadata: Any) -> tuple[int, ...] | None:
    """The shape of one chunk (the inner chunk of a sharded array)."""
    chunks = getattr(metadata, "chunks", None)
    return tuple(int(n) for n in chunks) if chunks is not None else None


def _storage_chunk_shape(metadata: Any) -> tuple[int, ...] | None:
    """The shape of one stored object (a shard for sharded arrays, else a chunk)."""
    grid = getattr(metadata, "chunk_grid", None)
    shape = getattr(grid, "chunk_shape", None)
    if shape is None:
        shape = getattr(metadata, "chunks", None)
    return tuple(int(n) for n in shape) if shape is not None else None


def _chunks_under(selection: Any, shape: tuple[int, ...], grid: tuple[int, ...]):
    """Chunk coordinates the selection touches (every chunk for a selection that is not modelled)."""
    if not shape:
        return iter([()])
    try:
        box, _ = normalise_selection(selection, shape, "")
    except (IndexError, TypeError, ValueError):
        box = [(0, s) for s in shape]
    ranges = [range(lo // n, (hi - 1) // n + 1) if hi > lo else range(0) for (lo, hi), n in zip(box, grid)]
    return itertools.product(*ranges)


class CheckedArray(AsyncArray):
    """zarr's ``AsyncArray`` whose failed reads name the store, the dataset and the damaged chunk."""

    async def getitem(self, selection: Any, *, prototype: Any = None) -> Any:  # type: ignore[override]
        try:
            return await super().getitem(selection, prototype=prototype)
        except PASS_THROUGH:
            raise
        except Exception as exc:
            named = await read_error(self, selection)
            if named is None:
                raise
            raise named from exc


def with_store(exc: FormatError, store: str) -> FormatError:
    """``exc`` with the store's name in front, of the same class when that class takes a message alone."""
    if str(exc).startswith(store):
        return exc
    try:
        named = type(exc)(f"{store}: {exc}")
    except Exception:
        named = FormatError(f"{store}: {exc}")
    return named
