"""Writing one block of an array: whole chunks are encoded directly, anything else goes through zarr."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from zarr import AsyncArray

from .._private_api import bounded_map
from ..format.chunks import chunk_encoder, chunk_regions, chunk_scratch
from ..storage.batch import sync_writer
from .pool import codec_pool, codec_threads


def covers_whole_chunks(selection: tuple[slice, ...], shape: tuple[int, ...], chunks: tuple[int, ...]) -> bool:
    """True when ``selection`` is a union of whole chunks (chunks cut by the array's edge count as whole)."""
    for sl, n, c in zip(selection, shape, chunks):
        if sl.start % c or (sl.stop % c and sl.stop != n):
            return False
    return True


async def write_block(array: Any, selection: tuple[slice, ...], values: np.ndarray) -> None:
    """Store ``values`` at ``selection``: chunk-aligned numeric blocks are encoded on all cores and stored
    chunk by chunk (no read-modify-write); other blocks use zarr's ``setitem``."""
    encode = chunk_encoder(array) if isinstance(array, AsyncArray) and values.dtype.kind in "biuf" else None
    if encode is None:
        await array.setitem(selection, values)
        return
    shape = tuple(array.metadata.shape)
    chunks = tuple(array.metadata.chunk_grid.chunk_shape)
    if len(selection) != len(shape) or not covers_whole_chunks(selection, shape, chunks):
        await array.setitem(selection, values)
        return
    origin = tuple(sl.start // c for sl, c in zip(selection, chunks))
    await encode_and_store(array, encode, values, origin)


async def encode_and_store(array: AsyncArray, encode: Any, values: np.ndarray,
                           origin: tuple[int, ...] | None = None) -> None:
    """Encode every chunk of ``values`` (chunk-aligned, its first chunk at chunk index ``origin``) on the
    codec pool and store each as soon as it is encoded, so encoding and storing overlap.

    Each worker thread copies into its own reused scratch buffer (fresh pages cost more than the copy);
    on a local directory the worker also writes the file, before the scratch is reused.  At most two
    chunks per core are in flight, so memory stays bounded for any array size.
    """
    store, path = array.store_path.store, array.store_path.path
    chunks = tuple(array.metadata.chunk_grid.chunk_shape)
    origin = origin or (0,) * len(chunks)
    write_now = sync_writer(store)
    loop = asyncio.get_running_loop()
    executor = codec_pool()

    def encode_chunk(coords: tuple[int, ...], region: tuple[slice, ...]) -> tuple[str, Any] | None:
        absolute = tuple(o + i for o, i in zip(origin, coords))
        scratch = chunk_scratch(chunks, values.dtype)
        key, chunk = encode(absolute, values[region], scratch)
        full_key = f"{path}/{key}" if path else key
        if write_now is not None:
            write_now(full_key, chunk)
            return None
        if np.may_share_memory(chunk.as_numpy_array(), scratch):
            chunk = type(chunk).from_bytes(chunk.to_bytes())
        return full_key, chunk

    async def one(coords: tuple[int, ...], region: tuple[slice, ...]) -> BaseException | None:
        try:
            encoded = await loop.run_in_executor(executor, encode_chunk, coords, region)
            if encoded is not None:
                await store.set(*encoded)
        except Exception as exc:  # every chunk finishes before the first error is raised
            return exc
        return None

    in_flight = 2 * codec_threads()  # chunks encoded or being stored at once: memory stays bounded
    results = await bounded_map(chunk_regions(values.shape, chunks), one, limit=in_flight)
    errors = [r for r in results if r is not None]
    if errors:
        raise errors[0]
