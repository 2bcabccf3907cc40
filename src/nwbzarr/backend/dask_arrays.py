"""Reading stored datasets as dask arrays: ``as_dask(dataset)`` reads lazily, one task per stored chunk."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["StoredArrayReader", "aligned_chunks", "as_dask"]

class StoredArrayReader:
    """A picklable, lazily opened view of one stored array with ``shape``, ``dtype`` and ``__getitem__``."""

    def __init__(self, store: Any, layout: Any, node: Any, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.store = store
        self.layout = layout
        self.node = node
        self.shape = tuple(shape)
        self.dtype = dtype
        self.ndim = len(self.shape)
        self._array: Any = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None}

    def __getitem__(self, key: Any) -> np.ndarray:
        from .._private_api import sync

        if self._array is None:
            self._array = self.layout.open_array(self.store, self.node)
        if self.node.scalar_as_1d:
            raw = sync(self._array.getitem(0))
        else:
            raw = sync(self._array.getitem(key if key != () else ...))
        values = self.layout.decode_array_values(self.node, np.asarray(raw))
        return np.asarray(values)


def as_dask(dataset: Any, chunks: tuple[int, ...] | None = None) -> Any:
    """A dask array over a dataset read by nwbzarr (or a ``zarr.Array``), one task per stored chunk by
    default; ``chunks`` may group whole stored chunks. Nothing is read until the array is computed."""
    import dask.array as da
    import zarr
    from dask.base import tokenize

    from .arrays import BuilderReferenceDataset, ContainerReferenceDataset, ZarrDataset

    if isinstance(dataset, (BuilderReferenceDataset, ContainerReferenceDataset)):
        raise TypeError(f"as_dask reads numeric, text and compound datasets; {dataset.name} holds references")
    if not isinstance(dataset, ZarrDataset):
        if isinstance(dataset, zarr.Array):
            return da.from_zarr(dataset, chunks=aligned_chunks(dataset.shape, dataset.chunks, chunks, "array"))
        raise TypeError(f"as_dask needs a dataset read by nwbzarr (ZarrDataset) or a zarr.Array, "
                        f"not {type(dataset).__name__}")
    shape = tuple(dataset.shape)
    stored = tuple(dataset.chunks)[-len(shape):] if shape else ()
    blocks = aligned_chunks(shape, stored, chunks, dataset.name)
    dtype = np.dtype(dataset.dtype) if not isinstance(dataset.dtype, (str, list)) else np.dtype(object)
    io = dataset.io
    reader = StoredArrayReader(io.store, io.layout, dataset.node, shape, dtype)
    name = "nwbzarr-" + tokenize(repr(io.store), dataset.path, shape, blocks, repr(dataset.node.document))
    return da.from_array(reader, chunks=blocks, name=name, asarray=False, fancy=False,
                         meta=np.empty((0,) * len(shape), dtype=dtype))


def aligned_chunks(shape: tuple[int, ...], stored: tuple[int, ...], wanted: tuple[int, ...] | None,
                   where: str) -> tuple[int, ...]:
    """Stored chunks, or ``wanted`` when each is a whole multiple of them (or spans the axis)."""
    if wanted is None:
        return tuple(min(max(1, c), max(1, s)) for c, s in zip(stored, shape))
    wanted = tuple(int(c) for c in wanted)
    if len(wanted) != len(shape):
        raise ValueError(f"chunks {wanted} for {where} must have {len(shape)} entries (its shape is {shape})")
    for axis, (w, c, s) in enumerate(zip(wanted, stored, shape)):
        if w < 1 or (w % c and w < s):
            raise ValueError(f"chunks {wanted} for {where} are not aligned to its stored chunks {stored} "
                             f"(axis {axis}: {w} is not a multiple of {c})")
    return wanted
