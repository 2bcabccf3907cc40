"""Copying datasets chunk by chunk, only the chunks that are stored: a dataset whose declared shape is
huge (Zarr and HDF5 both allow sparse chunked datasets) converts in memory bounded by a few chunks, and
its missing chunks stay missing (they read as the fill value on both sides)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
from hdmf.data_utils import AbstractDataChunkIterator, DataChunk

from ..format.base import ResourceLimitError

__all__ = ["StoredChunksIterator", "check_fits_in_memory", "hdf5_allocated_regions", "sparse_regions",
           "stored_regions"]

Region = tuple[slice, ...]


# --- which regions hold data ------------------------------------------------------------------------
def _grid(doc: dict[str, Any]) -> tuple[int, ...] | None:
    """The shape of what one stored key holds: a chunk, or a shard when the array is sharded."""
    if "chunk_grid" in doc:
        return tuple(int(c) for c in ((doc["chunk_grid"] or {}).get("configuration") or {}).get("chunk_shape", ()))
    chunks = doc.get("chunks")
    return tuple(int(c) for c in chunks) if chunks else None


def _key_parser(doc: dict[str, Any]) -> tuple[str, str]:
    """(prefix before the indices, separator between them) of an array's chunk keys."""
    encoding = doc.get("chunk_key_encoding")
    if encoding is None:  # Zarr v2: "0.1" or "0/1"
        return "", doc.get("dimension_separator") or "."
    name = encoding.get("name")
    separator = (encoding.get("configuration") or {}).get("separator")
    if name == "v2":
        return "", separator or "."
    return "c" + (separator or "/"), separator or "/"


def _region_of(rel: str, prefix: str, sep: str, grid: tuple[int, ...], shape: tuple[int, ...]) -> Region | None:
    if not rel.startswith(prefix):
        return None
    parts = rel[len(prefix):].split(sep) if rel != prefix else []
    if len(parts) != len(shape) or not all(p.isdigit() for p in parts):
        return None
    idx = [int(p) for p in parts]
    if any(i * g >= s for i, g, s in zip(idx, grid, shape)):
        return None  # a chunk beyond the shape (left by a shrink): nothing of it is visible
    return tuple(slice(i * g, min((i + 1) * g, s)) for i, g, s in zip(idx, grid, shape))


def stored_regions(io: Any, node: Any) -> list[Region] | None:
    """The regions of a Zarr array that have a stored chunk (or shard), in key order; None when the
    store cannot list its keys."""
    store = io.store
    if not getattr(store, "supports_listing", False):
        return None
    doc, shape = node.document, tuple(node.shape)
    grid = _grid(doc)
    if grid is None or len(grid) != len(shape):
        return None
    prefix, sep = _key_parser(doc)
    base = f"{node.path}/" if node.path else ""

    async def keys() -> list[str]:
        return [k async for k in store.list_prefix(base)]

    regions = []
    for key in sorted(io._run_sync(keys())):
        region = _region_of(key[len(base):], prefix, sep, grid, shape)
        if region is not None:
            regions.append(region)
    return regions


def hdf5_allocated_regions(dset: Any) -> list[Region] | None:
    """The regions of a chunked h5py dataset whose chunks are allocated in the file (None: not chunked)."""
    if dset.chunks is None or not dset.shape:
        return None
    shape, chunks = tuple(dset.shape), tuple(dset.chunks)
    offsets: list[tuple[int, ...]] = []
    if hasattr(dset.id, "chunk_iter"):
        dset.id.chunk_iter(lambda info: offsets.append(tuple(info.chunk_offset)))
    else:  # pragma: no cover - HDF5 < 1.12.3
        offsets = [tuple(dset.id.get_chunk_info(i).chunk_offset) for i in range(dset.id.get_num_chunks())]
    return [tuple(slice(o, min(o + c, s)) for o, c, s in zip(off, chunks, shape)) for off in sorted(offsets)]


def is_sparse(regions: list[Region], shape: tuple[int, ...]) -> bool:
    """True when the stored regions cover less than half of the declared shape."""
    covered = sum(math.prod(s.stop - s.start for s in r) for r in regions)
    return covered * 2 < math.prod(shape)


def sparse_regions(source: Any, oversized_blocks: bool) -> list[Region] | None:
    """The regions to copy one at a time instead of first-axis blocks: the stored (allocated) chunks of a
    Zarr or chunked HDF5 source when they cover less than half its shape or when one block of rows would
    be too large for memory; None to copy by blocks. A contiguous HDF5 dataset never written has none."""
    import h5py

    from .arrays import ZarrDataset

    if isinstance(source, h5py.Dataset):
        if source.chunks is None:
            return [] if source.id.get_storage_size() == 0 and source.compression is None else None
        regions = hdf5_allocated_regions(source)
    elif isinstance(source, ZarrDataset):
        regions = stored_regions(source.io, source.node)
    else:
        return None
    if regions is None:
        return None
    return regions if oversized_blocks or is_sparse(regions, tuple(source.shape)) else None


# --- memory --------------------------------------------------------------------------------------------
def memory_budget() -> int:
    """Bytes this process may still reasonably allocate: available RAM, capped by RLIMIT_AS."""
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not on Linux (Windows has no sysconf)
        avail = 1 << 62
    return min(avail, _address_space_limit())


def _address_space_limit() -> int:
    """RLIMIT_AS's soft limit; unlimited where there is none (``resource`` is POSIX-only)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 1 << 62
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return soft if soft != resource.RLIM_INFINITY else 1 << 62


def check_fits_in_memory(nbytes: int, what: str) -> None:
    """Refuse, before allocating, to load ``nbytes`` at once when they cannot fit in memory."""
    budget = memory_budget()
    if nbytes > budget:
        raise ResourceLimitError(
            f"{what} would need {nbytes / 2**30:.3g} GiB in memory at once, more than the "
            f"{budget / 2**30:.3g} GiB available; it cannot be converted whole"
        )


# --- Zarr -> HDF5 ----------------------------------------------------------------------------------------
class StoredChunksIterator(AbstractDataChunkIterator):
    """Yields the stored chunks of a Zarr dataset one at a time, for HDF5IO's chunk-by-chunk write: the
    HDF5 dataset gets the full declared shape and only these chunks are written."""

    def __init__(self, data: Any, regions: list[Region], chunks: tuple[int, ...]) -> None:
        self.data, self._chunks = data, chunks
        self._regions: Iterator[Region] = iter(regions)
        self._dtype = np.dtype(data.dtype)

    def __iter__(self) -> StoredChunksIterator:
        return self

    def __next__(self) -> DataChunk:
        region = next(self._regions)
        return DataChunk(data=np.asarray(self.data[region], dtype=self._dtype), selection=region)

    def recommended_chunk_shape(self) -> tuple[int, ...]:
        return self._chunks

    def recommended_data_shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def maxshape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)
