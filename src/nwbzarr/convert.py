"""HDF5 <-> Zarr conversion at the builder level: every object, attribute, link and reference kept.

Zarr -> HDF5 goes through builders too (not through a container rebuild), so nothing is added or
dropped on the way; HDF5 chunking and gzip compression are carried over both ways.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
from hdmf.backends.hdf5 import HDF5IO, H5DataIO
from hdmf.backends.io import HDMFIO
from hdmf.build import BuildManager, DatasetBuilder, GroupBuilder, LinkBuilder

from .backend.arrays import ZarrDataset
from .backend.io import ZarrIO

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5_file(path: str | Path) -> bool:
    """True when ``path`` is an HDF5 file (by its signature, not its name)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == HDF5_SIGNATURE
    except (IsADirectoryError, FileNotFoundError, PermissionError):
        return False


def convert(source: str | Path, target: str | Path, *, link_data: bool = False, zarr_format: int | None = None,
            overwrite: bool = False, progress: bool = False, jobs: int = 1) -> str:
    """Convert an HDF5 file to a Zarr store or a Zarr store to an HDF5 file (direction by content).

    ``jobs`` > 1 (or -1: all cores) copies large HDF5 datasets into Zarr with that many processes."""
    source, target = str(source), str(target)
    if jobs < 1 and jobs != -1:
        raise ValueError(f"jobs must be >= 1 (or -1 for all cores), not {jobs}")
    if not os.path.exists(source) and "://" not in source:
        raise FileNotFoundError(f"{source!r} does not exist")
    if os.path.exists(target) and not overwrite:
        raise FileExistsError(f"{target!r} exists; pass overwrite=True (--overwrite) to replace it")
    if is_hdf5_file(source):
        hdf5_to_zarr(source, target, link_data=link_data, zarr_format=zarr_format, progress=progress, jobs=jobs)
    elif ZarrIO.can_read(source):
        zarr_to_hdf5(source, target, progress=progress)
    else:
        raise ValueError(f"{source!r} is neither an HDF5 file nor a Zarr store")
    return target


def _manager_for_hdf5(path: str) -> BuildManager:
    from pynwb import get_type_map

    type_map = get_type_map()
    with h5py.File(path, "r") as fh:
        has_specs = ".specloc" in fh.attrs
    if has_specs:
        HDF5IO.load_namespaces(type_map, path)
    return BuildManager(type_map)


def hdf5_to_zarr(source: str, target: str, *, link_data: bool = False, zarr_format: int | None = None,
                 progress: bool = False, jobs: int = 1) -> None:
    """Export an HDF5 (NWB or any HDMF) file into a new Zarr store, keeping chunks and codecs;
    with ``jobs`` != 1, large datasets are copied by that many (spawned) processes."""
    manager = _manager_for_hdf5(source)
    io_class, write_args = ZarrIO, {"link_data": link_data}
    if jobs != 1:
        from .parallel_copy import ParallelCopyZarrIO

        io_class = ParallelCopyZarrIO
        write_args.update(number_of_jobs=jobs, multiprocessing_context="spawn")
    with HDF5IO(source, mode="r", manager=manager) as src, \
            io_class(target, mode="w", manager=manager, zarr_format=zarr_format, force_overwrite=True) as dst:
        builder = src.read_builder()
        _progress_note(progress, f"converting {source} -> {target}")
        dst.show_progress = progress
        # the builders as read, not rebuilt from containers (export with link_data=False would migrate them)
        HDMFIO.export(dst, src_io=src, write_args={**write_args, "export_source": os.path.abspath(source)})
        del builder


def zarr_to_hdf5(source: str, target: str, *, progress: bool = False) -> None:
    """Export a Zarr store (either layout) into a new HDF5 file, builder by builder."""
    from pynwb import get_type_map

    type_map = get_type_map()
    ZarrIO.load_namespaces(type_map, source)
    manager = BuildManager(type_map)
    siblings: list[HDF5IO] = []
    with ZarrIO(source, mode="r", manager=manager) as src, HDF5IO(target, mode="w", manager=manager) as dst:
        root = src.read_builder()
        _wrap_for_hdf5(root)
        _relink_to_hdf5_siblings(root, root, manager, siblings)
        _progress_note(progress, f"converting {source} -> {target}")
        HDMFIO.export(dst, src_io=src, write_args={"link_data": False,
                                                   "export_source": src.store_location})
        dst._HDF5IO__cache_spec()
    for io in siblings:
        io.close()


def _relink_to_hdf5_siblings(group: GroupBuilder, root: GroupBuilder, manager: BuildManager,
                             opened: list[HDF5IO]) -> None:
    """External links into other Zarr stores -> links into their HDF5 conversions (``x.nwb.zarr`` -> ``x.nwb``)."""
    from .backend.write import builder_root_and_path

    for child in group.groups.values():
        _relink_to_hdf5_siblings(child, root, manager, opened)
    for name, link in list(group.links.items()):
        target_root, path = builder_root_and_path(link.builder)
        if target_root is root:
            continue
        store = str(target_root.source or "")
        sibling = store[: -len(".zarr")] if store.endswith(".zarr") else None
        if sibling is None or not is_hdf5_file(sibling):
            raise ValueError(
                f"link {name!r} in {group.name!r} points into the Zarr store {store!r}; convert that store to "
                f"HDF5 first, beside it ({sibling or store + '.nwb'}), then convert this one"
            )
        io = HDF5IO(sibling, mode="r", manager=manager)
        opened.append(io)
        target = io.read_builder()
        for part in path.strip("/").split("/"):
            target = target[part]
        dict.__getitem__(group, "links")[name] = LinkBuilder(target, name=name, parent=group)


def _wrap_for_hdf5(builder: GroupBuilder) -> None:
    """Give lazily read datasets HDF5 chunking and gzip compression equivalent to how Zarr held them."""
    for child in builder.groups.values():
        _wrap_for_hdf5(child)
    for dset in builder.datasets.values():
        _wrap_dataset(dset)


def _wrap_dataset(dset: DatasetBuilder) -> None:
    data = dset.data
    if type(data) is not ZarrDataset or not data.shape or data.size == 0:
        return
    dtype = data.dtype
    if getattr(dtype, "kind", "O") == "O":
        return
    chunks = tuple(min(c, s) if s else c for c, s in zip(data.chunks, data.shape))
    compressed = _is_compressed(data)
    dset["data"] = H5DataIO(data=data.read(), chunks=chunks if compressed or chunks != data.shape else None,
                            compression="gzip" if compressed else None)


def _is_compressed(data: ZarrDataset) -> bool:
    codecs = data.node.document.get("codecs") or []
    names = {c.get("name") for c in codecs if isinstance(c, dict)}
    if data.node.document.get("compressor"):
        return True
    return bool(names - {"bytes", "transpose", "vlen-utf8", "vlen-bytes", "crc32c"})


def _progress_note(progress: bool, text: str) -> None:
    if progress:
        from tqdm import tqdm

        tqdm.write(text)


def hdf5_builder_source(builder: Any) -> str | None:
    return getattr(builder, "source", None)
