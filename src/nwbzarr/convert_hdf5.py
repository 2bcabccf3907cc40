"""The HDF5 side of ``nwbzarr convert`` that HDF5IO does not do: cached spec texts read and written as
stored, region-reference datasets (hdmf >= 4 writes no region references), and a progress bar."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np
from hdmf.backends.hdf5 import HDF5IO
from hdmf.build import DatasetBuilder, GroupBuilder
from hdmf.data_utils import DataChunk, DataIO

from .backend.sparse_copy import StoredChunksIterator
from .backend.spec import SPEC_LOC, SpecTexts
from .format.reference import ZarrReference, region_to_selection
from .storage.progress import advance, grow
from .storage.url import HDF5_SIGNATURE


def remote_hdf5_signature(url: str, storage_options: dict | None) -> bool:
    """True when the file at ``url`` (fsspec, with ``storage_options``) starts with the HDF5 signature;
    False for a prefix (a Zarr store) or anything unreadable as a file."""
    import fsspec

    try:
        with fsspec.open(url, "rb", **(storage_options or {})) as fh:
            return fh.read(8) == HDF5_SIGNATURE
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def hdf5_source(path: str, storage_options: dict | None) -> Iterator[Any]:
    """What h5py opens ``path`` from: the name of a local file as is, a URL's fsspec file object (opened
    for the duration, read in blocks as h5py asks for them)."""
    if "://" not in path or path.startswith("file://"):
        yield path.removeprefix("file://")
        return
    import fsspec

    with fsspec.open(path, "rb", **(storage_options or {})) as fh:
        yield fh


def hdf5_spec_texts(path: Any) -> SpecTexts:
    """The specs cached in an HDF5 file (the group its root's ``.specloc`` names), text as stored."""
    with h5py.File(path, "r") as fh:
        group = _hdf5_spec_group(fh)
        if group is None:
            return {}
        out: SpecTexts = {}
        for ns, versions in group.items():
            for version, files in _subgroups(versions):
                out[f"{ns}/{version}"] = {stem: _as_text(ds[()], f"{ds.name} in {path}")
                                          for stem, ds in files.items() if isinstance(ds, h5py.Dataset)}
        return out


def _hdf5_spec_group(fh: h5py.File) -> h5py.Group | None:
    loc = fh.attrs.get(".specloc")
    if loc is None:
        return None
    target = fh[loc] if isinstance(loc, h5py.Reference) else fh.get(_as_text(loc, f".specloc of {fh.filename}"))
    if not isinstance(target, h5py.Group):
        raise ValueError(f"{fh.filename}: the root attribute .specloc does not name a group of cached specs")
    return target


def _subgroups(group: h5py.Group | h5py.Dataset) -> list[tuple[str, h5py.Group]]:
    if not isinstance(group, h5py.Group):
        return []
    return [(name, child) for name, child in group.items() if isinstance(child, h5py.Group)]


def _as_text(value: Any, where: str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    if getattr(value, "shape", None) == (1,):
        return _as_text(value[0], where)
    raise ValueError(f"{where}: expected text, found {type(value).__name__}")


def write_hdf5_spec_texts(path: str, texts: SpecTexts) -> None:
    """Cache spec texts in an HDF5 file as HDF5IO does (scalar UTF-8 strings, root ``.specloc`` reference)."""
    if not texts:
        return
    with h5py.File(path, "r+") as fh:
        group = fh.require_group(SPEC_LOC)
        for key, files in texts.items():
            versioned = group.require_group(key)
            for stem, text in files.items():
                versioned.create_dataset(stem, data=text, dtype=h5py.string_dtype("utf-8"))
        fh.attrs[".specloc"] = group.ref


def write_hdf5_region_references(path: str, datasets: dict[str, np.ndarray]) -> None:
    """Rewrite datasets (absolute path -> array of ZarrReference) as HDF5 region references into the
    same file, keeping each dataset's attributes."""
    if not datasets:
        return
    with h5py.File(path, "r+") as fh:
        for name, refs in datasets.items():
            attrs = {key: fh[name].attrs[key] for key in fh[name].attrs}
            values = np.empty(refs.shape, dtype=h5py.regionref_dtype)
            for idx in np.ndindex(refs.shape):
                values[idx] = _region_reference(fh, refs[idx], f"{name}{list(idx)}")
            del fh[name]
            dset = fh.create_dataset(name, data=values, dtype=h5py.regionref_dtype)
            for key, value in attrs.items():
                dset.attrs[key] = value


def _region_reference(fh: h5py.File, ref: Any, where: str) -> Any:
    if ref is None:
        return h5py.RegionReference()
    if not isinstance(ref, ZarrReference) or not ref.is_local:
        raise ValueError(f"{where}: a region reference into another file cannot be stored in HDF5 ({ref!r})")
    return fh[ref.path].regionref[region_to_selection(ref.region)]


# --- progress of a Zarr -> HDF5 write ------------------------------------------------------------
class ProgressChunks(StoredChunksIterator):
    """``StoredChunksIterator`` that advances ``bar`` (set by ``ProgressHDF5IO``) by each chunk's bytes."""

    bar: Any = None

    def __next__(self) -> DataChunk:
        chunk = super().__next__()
        advance(self.bar, chunk.data.nbytes)
        return chunk


class ProgressHDF5IO(HDF5IO):
    """HDF5IO advancing ``bar`` (a ``storage.progress`` bar in bytes, or None) as it writes: every dataset
    counts its decoded size once written, a chunk-by-chunk copy counts as its chunks are written."""

    bar: Any = None

    def write_builder(self, **kwargs: Any) -> None:
        grow(self.bar, sum(dataset_bytes(d) for d in _datasets_of(kwargs["builder"])))
        super().write_builder(**kwargs)

    def write_dataset(self, *args: Any, **kwargs: Any) -> Any:
        builder = args[1] if len(args) > 1 else kwargs["builder"]
        chunks = _unwrapped(builder.data)
        if isinstance(chunks, ProgressChunks):
            chunks.bar = self.bar
        before = self.bar.n if self.bar is not None else 0
        result = super().write_dataset(*args, **kwargs)
        counted = (self.bar.n - before) if self.bar is not None else 0
        advance(self.bar, max(0, dataset_bytes(builder) - counted))
        return result


def _datasets_of(group: GroupBuilder) -> Iterator[DatasetBuilder]:
    yield from group.datasets.values()
    for child in group.groups.values():
        yield from _datasets_of(child)


def _unwrapped(data: Any) -> Any:
    return data.data if isinstance(data, DataIO) else data


def dataset_bytes(builder: DatasetBuilder) -> int:
    """A dataset's share of the bar: decoded size of its data (text and objects count 8 bytes an element)."""
    data = _unwrapped(builder.data)
    if isinstance(data, StoredChunksIterator):
        data = data.data
    if isinstance(data, (str, bytes)):
        return max(1, len(data))
    shape, dtype = getattr(data, "shape", None), getattr(data, "dtype", None)
    if shape is None or dtype is None or isinstance(dtype, list):
        return 8 * (len(data) if hasattr(data, "__len__") else 1)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        return 8 * math.prod(shape)
    return math.prod(shape) * (8 if dtype.kind == "O" else dtype.itemsize)
