"""Damaged chunks: errors that name the store, the dataset and the chunk key instead of a bare codec error.

Reads stay as fast as before: nothing here runs unless a read has already failed. Then the chunks the
read touched are decoded one by one to find the one at fault.
"""

from __future__ import annotations

import itertools
from typing import Any

from zarr.abc.store import Store
from zarr.core.array import AsyncArray

from .base import FormatError

MAX_PROBED_CHUNKS = 4096  # chunks decoded one by one to find the damaged one (a failed read only)


class CorruptChunkError(FormatError, OSError):
    """A stored chunk that its array's codecs cannot decode (garbage, truncated or written by another codec).

    Both a ``FormatError`` and an ``OSError``, so code catching either keeps working.
    """


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
    """The error naming the chunk under ``selection`` that does not decode or decodes to the wrong size, or None
    when every chunk decodes or the store itself fails (a missing store, a dead server: their own errors are
    raised as they are). ``where`` names the dataset (default: its path in the store)."""
    from .chunk_errors import locate_bad_chunk  # regular grids with the size check; shards: find_bad_chunk

    try:
        sized = await locate_bad_chunk(array, selection, where or "/" + array.store_path.path)
    except Exception:  # the store failed while probing: not a damaged chunk
        return None
    if sized is not None:
        return sized
    found = await find_bad_chunk(array, selection)
    if found is None:
        return None
    return chunk_error(array.store_path.store, array.store_path.path, *found)


async def find_bad_chunk(array: AsyncArray, selection: Any) -> tuple[str, BaseException] | None:
    """(store key, error) of the first chunk under ``selection`` whose stored bytes fail to decode, or None."""
    from zarr.core.buffer import default_buffer_prototype

    metadata = array.metadata
    grid = _storage_chunk_shape(metadata)
    shape = tuple(metadata.shape)
    if grid is None or not shape:
        coords_list: Any = [()] if not shape else []
    else:
        coords_list = itertools.islice(_chunks_under(selection, shape, grid), MAX_PROBED_CHUNKS)
    prefix = array.store_path.path
    for coords in coords_list:
        key = metadata.encode_chunk_key(coords)
        key = f"{prefix}/{key}" if prefix else key
        try:  # the bytes first: a store that fails is not a damaged chunk
            if await array.store_path.store.get(key, prototype=default_buffer_prototype()) is None:
                continue
        except Exception:
            return None
        region = tuple(slice(c * n, min(s, (c + 1) * n)) for c, n, s in zip(coords, grid or (), shape))
        try:
            await AsyncArray.getitem(array, region if shape else ...)
        except PASS_THROUGH:
            continue
        except Exception as exc:
            return key, exc
    return None


def _storage_chunk_shape(metadata: Any) -> tuple[int, ...] | None:
    """The shape of one stored object (a shard for sharded arrays, else a chunk)."""
    grid = getattr(metadata, "chunk_grid", None)
    shape = getattr(grid, "chunk_shape", None)
    if shape is None:
        shape = getattr(metadata, "chunks", None)
    return tuple(int(n) for n in shape) if shape is not None else None


def _chunks_under(selection: Any, shape: tuple[int, ...], grid: tuple[int, ...]):
    """Chunk coordinates a basic selection touches (every chunk for other selections)."""
    from .chunks import basic_selection

    try:
        found = basic_selection(selection, shape)
    except IndexError:
        found = None
    if found is None:
        ranges = [range(-(-s // n)) for s, n in zip(shape, grid)]
    else:
        ranges = [range(sl.start // n, -(-sl.stop // n)) for sl, n in zip(found[0], grid)]
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
