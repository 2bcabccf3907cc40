"""Writing one block of an array: whole chunks are encoded directly, anything else goes through zarr."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from zarr.core.array import AsyncArray

from ..format.chunks import chunk_encoder, chunk_regions
from ..storage.batch import set_many
from .pool import codec_pool


def covers_whole_chunks(selection: tuple[slice, ...], shape: tuple[int, ...], chunks: tuple[int, ...]) -> bool:
    """True when ``selection`` is a union of whole chunks (chunks cut by the array's edge count as whole)."""
    for sl, n, c in zip(selection, shape, chunks):
        if sl.start % c or (sl.stop % c and sl.stop != n):
            return False
    return True


async def write_block(array: Any, selection: tuple[slice, ...], values: np.ndarray) -> None:
    """Store ``values`` at ``selection``: chunk-aligned numeric blocks are encoded on all cores and stored
    in one batch (no read-modify-write); other blocks use zarr's ``setitem``."""
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
    regions = list(chunk_regions(values.shape, chunks))
    loop = asyncio.get_running_loop()
    encoded = await asyncio.gather(*(
        loop.run_in_executor(codec_pool(), encode, tuple(o + i for o, i in zip(origin, coords)), values[region])
        for coords, region in regions
    ))
    path = array.store_path.path
    await set_many(array.store_path.store, [(f"{path}/{key}" if path else key, chunk) for key, chunk in encoded])
