"""Reading a basic selection of a numeric array chunk by chunk, bypassing zarr's per-chunk bookkeeping.

Three ways, picked by ``fill_selection``:
- one or two chunks of a store with blocking reads: read and decode in the calling thread (a trip
  through zarr's event loop costs three thread hops, more than the chunk itself);
- more chunks of such a store: each codec-pool thread reads, decodes and places whole chunks, into
  reused buffers when the codecs allow it (``chunk_decoder_into``), so reading overlaps decoding and no
  chunk allocates fresh memory;
- other stores (remote): every chunk fetched in one batch through the event loop, decoded on all cores.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import wait
from typing import Any

import numpy as np
from zarr import AsyncArray

SYNC_READ_CHUNKS = 2  # reads of up to this many chunks of a local store skip the event loop
SCRATCH_LIMIT = 64 << 20  # per-thread read buffers larger than this are not kept between reads

_SCRATCH = threading.local()


def fill_selection(array: AsyncArray, decode: Any, decode_into: Any, slices: tuple[slice, ...],
                   out: np.ndarray, run_sync: Callable[[Any], Any]) -> None:
    """Fill ``out`` with the region ``slices`` (step-1 slices, one per dimension) of ``array``."""
    from ..storage.batch import sync_reader, sync_reader_into

    coords = chunks_of(array.metadata, slices)
    store = array.store_path.store
    if len(coords) <= SYNC_READ_CHUNKS:
        read = sync_reader(store)
        if read is not None:
            _fill_here(array, decode, slices, out, coords, read)
            return
    else:
        read_into = sync_reader_into(store)
        if read_into is not None:
            _fill_in_pool(array, decode, decode_into, slices, out, coords, read_into)
            return
    run_sync(_fill_from_chunks(array, decode, slices, out, coords))


def chunks_of(metadata: Any, slices: tuple[slice, ...]) -> list[tuple[int, ...]]:
    """Grid coordinates of every chunk that intersects ``slices``, in C order."""
    chunk_shape = tuple(metadata.chunk_grid.chunk_shape)
    ranges = [range(s.start // c, -(-s.stop // c)) for s, c in zip(slices, chunk_shape)]
    return list(itertools.product(*ranges))


def _regions(chunk_shape: tuple[int, ...], slices: tuple[slice, ...],
             coords: tuple[int, ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """(region within chunk ``coords``, region within ``out``) that the selection shares with the chunk."""
    src, dst = [], []
    for i, s, n in zip(coords, slices, chunk_shape):
        lo, hi = max(s.start, i * n), min(s.stop, (i + 1) * n)
        src.append(slice(lo - i * n, hi - i * n))
        dst.append(slice(lo - s.start, hi - s.start))
    return tuple(src), tuple(dst)


def _place(metadata: Any, decode: Any, slices: tuple[slice, ...], out: np.ndarray, coords: tuple[int, ...],
           raw: Any) -> None:
    """Copy the part of chunk ``coords`` (``raw``: its stored bytes, None if absent) selected by ``slices``."""
    chunk_shape = tuple(metadata.chunk_grid.chunk_shape)
    src, dst = _regions(chunk_shape, slices, coords)
    if raw is None:
        out[dst] = metadata.fill_value
    else:
        out[dst] = decode(raw).reshape(chunk_shape)[src]


def _chunk_key(path: str, key: str) -> str:
    return f"{path}/{key}" if path else key


def _fill_here(array: AsyncArray, decode: Any, slices: tuple[slice, ...], out: np.ndarray,
               coords: list[tuple[int, ...]], read: Callable[[str], Any]) -> None:
    from zarr.buffer import default_buffer_prototype

    metadata = array.metadata
    buffer = default_buffer_prototype().buffer
    path = array.store_path.path
    for c in coords:
        data = read(_chunk_key(path, metadata.encode_chunk_key(c)))
        _place(metadata, decode, slices, out, c, None if data is None else buffer.from_bytes(data))


def _scratch(slot: str, nbytes: int) -> np.ndarray:
    """This thread's reusable uint8 buffer ``slot`` of at least ``nbytes`` bytes (numpy's large allocations
    get huge pages, so even the first use faults little)."""
    current = getattr(_SCRATCH, slot, None)
    if current is None or current.size < nbytes:
        current = np.empty(nbytes, dtype="u1")
        if nbytes <= SCRATCH_LIMIT:
            setattr(_SCRATCH, slot, current)
    return current


def _fill_in_pool(array: AsyncArray, decode: Any, decode_into: Any, slices: tuple[slice, ...],
                  out: np.ndarray, coords: list[tuple[int, ...]], read_into: Callable[[str, Any], Any]) -> None:
    """Each codec-pool thread reads, decodes and places whole chunks (run here when called from the pool
    itself, which must not wait on its own threads)."""
    from zarr.buffer import default_buffer_prototype

    from ..writing.pool import codec_pool

    metadata = array.metadata
    chunk_shape = tuple(metadata.chunk_grid.chunk_shape)
    path = array.store_path.path
    buffer = default_buffer_prototype().buffer

    def one(c: tuple[int, ...]) -> None:
        raw = read_into(_chunk_key(path, metadata.encode_chunk_key(c)), lambda n: _scratch("raw", n))
        if raw is None or decode_into is None:
            _place(metadata, decode, slices, out, c, None if raw is None else buffer.from_bytes(bytes(raw)))
            return
        src, dst = _regions(chunk_shape, slices, c)
        out[dst] = decode_into(raw, _scratch("chunk", decode_into.chunk_nbytes))[src]

    if threading.current_thread().name.startswith("nwbzarr-codec"):
        for c in coords:
            one(c)
        return
    futures = [codec_pool().submit(one, c) for c in coords]
    wait(futures)  # every chunk done before an error is raised: none is still writing into ``out``
    for future in futures:
        future.result()


async def _fill_from_chunks(array: AsyncArray, decode: Any, slices: tuple[slice, ...], out: np.ndarray,
                            coords: list[tuple[int, ...]]) -> None:
    """Every chunk fetched in one batch (from a remote store at most zarr's ``async.concurrency`` at a
    time), decoded on all cores."""
    import asyncio

    from zarr.buffer import default_buffer_prototype

    from ..storage.remote import get_values
    from ..writing.pool import codec_pool

    metadata = array.metadata
    store_path = array.store_path
    prototype = default_buffer_prototype()
    keys = [_chunk_key(store_path.path, metadata.encode_chunk_key(c)) for c in coords]
    raws = await get_values(store_path.store, keys, prototype)  # remote: within the shared request limit
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(codec_pool(), _place, metadata, decode, slices, out, c, r)
                           for c, r in zip(coords, raws)))
