"""Parallel HDF5 -> Zarr copies: large numeric h5py datasets become picklable ``GenericDataChunkIterator``s
that the process pool (``nwbzarr.writing.process_pool``) copies block by block; smaller ones are copied as before.

The wrapped dataset keeps what the serial copy would give it: HDF5 chunking (or the default chunks),
codecs mapped from HDF5 filters (or the default codec), fill value and dtype, so both copies store the
same bytes. Datasets whose dtype the spec would change are left to the serial copy.
"""

from __future__ import annotations

import math
import os
from typing import Any

import h5py
import numpy as np
from hdmf.build import DatasetBuilder, GroupBuilder
from hdmf.data_utils import GenericDataChunkIterator

from .backend.dataio import ZarrDataIO
from .backend.io import ZarrIO
from .backend.planning import guess_chunks, h5_source_options
from .backend.sparse_copy import sparse_regions

PARALLEL_COPY_BYTES = 32 << 20  # datasets at least this large are copied by the pool
BUFFER_BYTES = 64 << 20


class H5DatasetIterator(GenericDataChunkIterator):
    """Reads one HDF5 dataset by selection; pickles as (file, dataset name), reopened once per process."""

    def __init__(self, filename: str, name: str, **kwargs: Any) -> None:
        self.filename, self.name, self._kwargs = os.path.abspath(filename), name, kwargs
        self._file: h5py.File | None = None
        self._pid = -1
        super().__init__(**kwargs)

    def _dataset(self) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.filename, "r"), os.getpid()
        return self._file[self.name]

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        return self._dataset()[selection]

    def _get_maxshape(self) -> tuple[int, ...]:
        return self._dataset().shape

    def _get_dtype(self) -> np.dtype:
        return self._dataset().dtype

    def _to_dict(self) -> dict:
        return {"filename": self.filename, "name": self.name, **self._kwargs}

    @staticmethod
    def _from_dict(state: dict) -> H5DatasetIterator:
        return H5DatasetIterator(**state)


def parallel_source(dset: h5py.Dataset, builder: DatasetBuilder, min_bytes: int) -> ZarrDataIO | None:
    """The dataset wrapped for the pool, or None when it stays with the serial copy."""
    if dset.ndim == 0 or dset.dtype.kind not in "biuf" or dset.nbytes < min_bytes or 0 in dset.shape:
        return None
    if not _same_dtype(builder, dset.dtype):
        return None
    opts = h5_source_options(dset)
    chunks = tuple(max(1, min(c, s)) for c, s in zip(opts.get("chunks") or guess_chunks(dset.shape,
                                                                                        dset.dtype.itemsize),
                                                    dset.shape))
    row_bytes = math.prod(dset.shape[1:]) * dset.dtype.itemsize
    rows = min(dset.shape[0], max(chunks[0], (BUFFER_BYTES // max(row_bytes, 1)) // chunks[0] * chunks[0]))
    if sparse_regions(dset, rows * row_bytes > 4 * BUFFER_BYTES) is not None:
        return None  # sparse, or rows too large for memory: the serial copy takes only the allocated chunks
    iterator = H5DatasetIterator(dset.file.filename, dset.name, chunk_shape=chunks,
                                 buffer_shape=(rows,) + tuple(dset.shape[1:]))
    return ZarrDataIO(data=iterator, chunks=chunks, compressors=opts.get("compressors", "auto"),
                      filters=opts.get("filters", "auto"), fillvalue=opts.get("fill_value"))


def _same_dtype(builder: DatasetBuilder, dtype: np.dtype) -> bool:
    from .format.dtypes import numpy_dtype_for_spec, spec_dtype_name

    name = spec_dtype_name(builder.dtype) if builder.dtype is not None else None
    return name in (None, "numeric") or numpy_dtype_for_spec(name) == dtype


def wrap_large_datasets(builder: GroupBuilder, min_bytes: int = PARALLEL_COPY_BYTES) -> int:
    """Replace large h5py datasets in a builder tree by pool-copied iterators; returns how many."""
    return _wrap(builder, min_bytes)


def _wrap(builder: GroupBuilder, min_bytes: int) -> int:
    count = 0
    for child in builder.groups.values():
        count += _wrap(child, min_bytes)
    for dset in builder.datasets.values():
        if isinstance(dset.data, h5py.Dataset):
            wrapped = parallel_source(dset.data, dset, min_bytes)
            if wrapped is not None:
                dset["data"] = wrapped
                count += 1
    return count


class ParallelCopyZarrIO(ZarrIO):
    """A ZarrIO whose writes copy large HDF5 datasets with the process pool (``number_of_jobs``)."""

    def write_builder(self, builder: GroupBuilder, **kwargs: Any) -> None:  # type: ignore[override]
        if kwargs.get("number_of_jobs", 1) != 1:
            wrap_large_datasets(builder, PARALLEL_COPY_BYTES)
        super().write_builder(builder, **kwargs)
