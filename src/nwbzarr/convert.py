"""HDF5 <-> Zarr conversion at the builder level: every object, attribute, link and reference kept.

Zarr -> HDF5 goes through builders too (not through a container rebuild), so nothing is added or
dropped on the way; HDF5 chunking and gzip compression are carried over both ways. The cached specs are
copied as stored (every namespace and version, each file's text unchanged), never replaced by the
installed schema; a file without cached specs gets none.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import h5py
import numpy as np
from hdmf.backends.hdf5 import HDF5IO, H5DataIO
from hdmf.backends.io import HDMFIO
from hdmf.build import BuildManager, DatasetBuilder, GroupBuilder, LinkBuilder

from ._private_api import hdf5io_file
from .backend.arrays import ZarrDataset
from .backend.hdf5_types import (
    ATTR_TYPES_KEY,
    attribute_types,
    hdf5_dtype_of,
    hdf5_text_type,
    typed_attribute,
)
from .backend.io import ZarrIO
from .backend.links import DEFAULT_POLICY, check_hdf5_file, check_policy
from .backend.sparse_copy import check_fits_in_memory, stored_regions
from .backend.spec import SpecTexts, spec_cache_groups, stored_spec_texts
from .convert_hdf5 import (
    ProgressChunks,
    ProgressHDF5IO,
    hdf5_source,
    hdf5_spec_texts,
    remote_hdf5_signature,
    write_hdf5_region_references,
    write_hdf5_spec_texts,
)
from .format.base import MAX_NODE_DEPTH, NodeInfo, ResourceLimitError
from .format.reference import ZarrReference
from .storage.progress import Progress, note, progress_bar
from .storage.url import is_hdf5_file, is_url, location_exists

WHOLE_COPY_BYTES = 64 * 2**20  # larger datasets are copied to HDF5 chunk by chunk
OBJECT_ELEMENT_BYTES = 64  # an estimate of one text or reference element in memory


def convert(source: str | Path, target: str | Path, *, link_data: bool = False, zarr_format: int | None = None,
            overwrite: bool = False, progress: Progress = False, jobs: int = 1,
            external_links: str = DEFAULT_POLICY, storage_options: dict | None = None,
            source_storage_options: dict | None = None) -> str:
    """Convert an HDF5 file to a Zarr store or a Zarr store to an HDF5 file (direction by content).

    ``jobs`` > 1 (or -1: all cores) copies large HDF5 datasets into Zarr with that many processes.
    ``external_links``: which other files the source's links may lead to (``ZarrIO``'s policy, applied to
    HDF5 external links too, before they are followed). ``storage_options``: the remote file system's
    options (fsspec/s3fs: ``endpoint_url``, ``anon``, credentials) for a source or target given as a URL
    (``s3://bucket/x.nwb.zarr``); ``source_storage_options``: other options for the source (default: the same).
    A Zarr target may be remote; an HDF5 target is a local file. ``progress``: one bar in bytes on stderr
    and a line naming the conversion (True: always; None: the bar only when stderr is a terminal; False:
    neither); ``TQDM_DISABLE=1`` turns the bar off (``storage.progress``)."""
    source, target = str(source), str(target)
    source_options = storage_options if source_storage_options is None else source_storage_options
    if jobs < 1 and jobs != -1:
        raise ValueError(f"jobs must be >= 1 (or -1 for all cores), not {jobs}")
    if "://" not in source and not os.path.exists(source):
        raise FileNotFoundError(f"{source!r} does not exist")
    if not overwrite and location_exists(target, storage_options):
        raise FileExistsError(f"{target!r} exists; pass overwrite=True (--overwrite) to replace it")
    check_policy(external_links)
    if is_hdf5_file(source) or (is_url(source) and remote_hdf5_signature(source, source_options)):
        hdf5_to_zarr(source, target, link_data=link_data, zarr_format=zarr_format, progress=progress, jobs=jobs,
                     external_links=external_links, storage_options=storage_options,
                     source_storage_options=source_options)
    elif ZarrIO.can_read(source, source_options):
        if is_url(target):
            raise ValueError(f"{target!r}: an HDF5 target must be a local file (HDF5 files are written locally)")
        zarr_to_hdf5(source, target, progress=progress, external_links=external_links,
                      storage_options=source_options)
    else:
        raise ValueError(f"{source!r} is neither an HDF5 file nor a Zarr store")
    return target


class _FaithfulCopyMixin:
    """A ZarrIO for conversions: caches given spec texts verbatim instead of the namespaces of its
    managers, and records HDF5 string types (ASCII, fixed length) so the way back restores them."""

    stored_specs: ClassVar[SpecTexts] = {}  # set per converted file by the class factory below
    keep_hdf5_types = True

    def _spec_cache_groups(self, existing: dict) -> dict[str, dict[str, str]]:
        return spec_cache_groups(self.stored_specs)


def _zarr_io_class(jobs: int, specs: SpecTexts) -> type[ZarrIO]:
    """The writer class of an HDF5 -> Zarr conversion: serial or parallel copy, specs copied verbatim."""
    base: type[ZarrIO] = ZarrIO
    if jobs != 1:
        from .parallel_copy import ParallelCopyZarrIO

        base = ParallelCopyZarrIO
    return type(f"Faithful{base.__name__}", (_FaithfulCopyMixin, base), {"stored_specs": specs})


def _manager_for_hdf5(path: Any) -> BuildManager:
    from pynwb import get_type_map

    type_map = get_type_map()
    with h5py.File(path, "r") as fh:
        if ".specloc" in fh.attrs:
            HDF5IO.load_namespaces(type_map, file=fh)
    return BuildManager(type_map)


def hdf5_to_zarr(source: str, target: str, *, link_data: bool = False, zarr_format: int | None = None,
                 progress: Progress = False, jobs: int = 1, external_links: str = "any",
                 storage_options: dict | None = None, source_storage_options: dict | None = None) -> None:
    """Export an HDF5 (NWB or any HDMF) file into a new Zarr store, keeping chunks and codecs;
    with ``jobs`` != 1, large datasets are copied by that many (spawned) processes. ``source`` may be a
    URL (read through fsspec with ``source_storage_options``), ``target`` too (``storage_options``)."""
    with hdf5_source(source, source_storage_options) as handle:
        remote = not isinstance(handle, str)
        if remote and jobs != 1:
            raise ValueError(f"jobs={jobs}: parallel copies read the HDF5 file by name in every process, so "
                             f"{source!r} must be a local file (use jobs=1 for a remote HDF5 file)")
        check_hdf5_file(handle, external_links, location=source if remote else None)
        _check_hdf5_depth(handle, source)
        manager = _manager_for_hdf5(handle)
        specs = hdf5_spec_texts(handle)
        io_class = _zarr_io_class(jobs, specs)
        write_args: dict[str, Any] = {"link_data": link_data, "cache_spec": bool(specs)}
        if jobs != 1:
            write_args.update(number_of_jobs=jobs, multiprocessing_context="spawn")
        export_source = source if remote else os.path.abspath(source)
        with _hdf5_io(handle, manager) as src, \
                io_class(target, mode="w", manager=manager, zarr_format=zarr_format, force_overwrite=True,
                         storage_options=storage_options) as dst:
            builder = src.read_builder()
            _record_hdf5_types(builder, hdf5io_file(src))
            note(progress, f"converting {source} -> {target}")
            dst.show_progress = progress
            # the builders as read, not rebuilt from containers (export with link_data=False would migrate them)
            HDMFIO.export(dst, src_io=src, write_args={**write_args, "export_source": export_source})
            del builder


@contextlib.contextmanager
def _hdf5_io(handle: Any, manager: BuildManager) -> Iterator[HDF5IO]:
    """HDF5IO on a local file name, or on an h5py.File opened on a remote file's file object."""
    if isinstance(handle, str):
        with HDF5IO(handle, mode="r", manager=manager) as io:
            yield io
        return
    with h5py.File(handle, "r") as h5file, HDF5IO(mode="r", manager=manager, file=h5file) as io:
        yield io


def _check_hdf5_depth(path: Any, name: str) -> None:
    """Refuse an HDF5 file with groups nested deeper than nwbzarr reads (HDF5IO would exhaust the stack)."""
    with h5py.File(path, "r") as fh:
        deep = fh.visit(lambda name: name if name.count("/") >= MAX_NODE_DEPTH else None)
    if deep is not None:
        raise ResourceLimitError(f"{name}: node /{deep[:80]}... is nested more than {MAX_NODE_DEPTH} groups deep; "
                                 f"nwbzarr reads at most {MAX_NODE_DEPTH} levels")


def _record_hdf5_types(group: GroupBuilder, h5file: h5py.File) -> None:
    """What a Zarr copy would lose of the HDF5 types, put where the writer keeps it: attribute types
    as a hidden attribute; scalar ASCII / fixed-length text (HDF5IO read it into ``str``) back as its
    h5py dataset, whose type the writer records."""
    _record_attribute_types(group, h5file)
    for child in group.groups.values():
        _record_hdf5_types(child, h5file)
    for dset in group.datasets.values():
        _record_attribute_types(dset, h5file)
        if not isinstance(dset.data, (str, bytes)):
            continue
        stored = h5file.get(_builder_path(dset))
        if isinstance(stored, h5py.Dataset) and hdf5_text_type(stored) is not None:
            dset["data"] = stored


def _record_attribute_types(builder: GroupBuilder | DatasetBuilder, h5file: h5py.File) -> None:
    stored = h5file.get(_builder_path(builder))
    types = attribute_types(stored) if stored is not None else {}
    types = {name: label for name, label in types.items() if name in builder.attributes}
    if types:
        builder.set_attribute(ATTR_TYPES_KEY, types)


def _restore_attribute_types(builder: GroupBuilder | DatasetBuilder, node: NodeInfo | None) -> None:
    """Attributes whose HDF5 type a conversion recorded get that type back."""
    types = ((node.document.get("attributes") or {}).get(ATTR_TYPES_KEY) if node is not None else None) or {}
    for name, label in types.items():
        if name in builder.attributes:
            builder.set_attribute(name, typed_attribute(builder.attributes[name], label,
                                                        f"{_builder_path(builder)}@{name}"))


def _builder_path(builder: GroupBuilder | DatasetBuilder) -> str:
    parts = []
    node: Any = builder
    while node is not None and node.parent is not None:
        parts.append(node.name)
        node = node.parent
    return "/" + "/".join(reversed(parts))


def zarr_to_hdf5(source: str, target: str, *, progress: Progress = False, external_links: str = DEFAULT_POLICY,
                 storage_options: dict | None = None) -> None:
    """Export a Zarr store (either layout) into a new HDF5 file, builder by builder; ``external_links``: which
    other stores the source's links and references may open (checked before the target is created);
    ``storage_options``: those of a source given as a URL."""
    from pynwb import get_type_map

    type_map = get_type_map()
    ZarrIO.load_namespaces(type_map, source, storage_options=storage_options)
    manager = BuildManager(type_map)
    siblings: list[HDF5IO] = []
    with ZarrIO(source, mode="r", manager=manager, external_links=external_links,
                storage_options=storage_options) as src:
        specs = stored_spec_texts(src)
        regions = _region_reference_values(src)
        root = src.read_builder()
        _open_referenced_stores(src)
        _wrap_for_hdf5(root, src)
        _relink_to_hdf5_siblings(root, root, manager, siblings)
        note(progress, f"converting {source} -> {target}")
        with progress_bar(progress, "write") as bar, ProgressHDF5IO(target, mode="w", manager=manager) as dst:
            dst.bar = bar
            HDMFIO.export(dst, src_io=src, write_args={"link_data": False,
                                                       "export_source": src.store_location})
    for io in siblings:
        io.close()
    write_hdf5_spec_texts(target, specs)
    write_hdf5_region_references(target, regions)


def _region_reference_values(io: ZarrIO) -> dict[str, np.ndarray]:
    """``{absolute path: ZarrReference array}`` of the reference datasets of a store that select regions
    (stored as object references with a ``region`` key: docs/region-references.md)."""
    out = {}
    for path, node in io.nodes.items():
        if node.kind != "array" or not node.is_reference or node.is_compound:
            continue
        check_fits_in_memory(math.prod(node.shape) * OBJECT_ELEMENT_BYTES,
                             f"reference dataset /{path} of {io.store_location} (shape {node.shape})")
        raw = np.asarray(io._run_sync(io.layout.open_array(io.store, node).getitem(...)))
        values = io.layout.decode_array_values(node, raw)
        values = values.reshape(()) if node.scalar_as_1d else values
        if any(getattr(values[idx], "region", None) is not None for idx in np.ndindex(values.shape)):
            out["/" + path] = values
    return out


def _open_referenced_stores(io: ZarrIO) -> None:
    """Resolve one reference per other store named in reference datasets (read lazily otherwise), so that a
    store the ``external_links`` policy refuses stops the conversion before the target is created."""
    seen: set[str] = set()
    for path, node in io.nodes.items():
        if node.kind != "array" or not (node.is_reference or node.ref_fields):
            continue
        raw = np.asarray(io._run_sync(io.layout.open_array(io.store, node).getitem(...)))
        values = io.layout.decode_array_values(node, raw)
        columns = [values[name] for name in node.ref_fields] if node.ref_fields else [values]
        for column in columns:
            for ref in np.asarray(column, dtype=object).reshape(-1):
                if isinstance(ref, ZarrReference) and not ref.is_local and ref.source not in seen:
                    seen.add(ref.source)
                    io.resolve_ref(ref, where=f"reference in /{path}")


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


def _wrap_for_hdf5(builder: GroupBuilder, io: ZarrIO) -> None:
    """Give lazily read datasets HDF5 chunking and gzip compression equivalent to how Zarr held them,
    and text recorded as ASCII or fixed length its HDF5 type back."""
    _restore_attribute_types(builder, io.nodes.get(_builder_path(builder).lstrip("/")))
    for child in builder.groups.values():
        _wrap_for_hdf5(child, io)
    for dset in builder.datasets.values():
        node = io.nodes.get(_builder_path(dset).lstrip("/"))
        _restore_attribute_types(dset, node)
        h5_dtype = _recorded_hdf5_text_type(io, node) if node is not None else None
        if h5_dtype is not None:
            _restore_text_type(dset, h5_dtype)
        else:
            _wrap_dataset(dset)


def _wrap_dataset(dset: DatasetBuilder) -> None:
    data = dset.data
    if type(data) is not ZarrDataset or not data.shape or data.size == 0:
        return
    dtype = data.dtype
    if getattr(dtype, "kind", "O") == "O":
        check_fits_in_memory(data.size * OBJECT_ELEMENT_BYTES, _dataset_name(data))  # HDF5IO reads it whole
        return
    chunks = tuple(min(c, s) if s else c for c, s in zip(data.chunks, data.shape))
    compressed = _is_compressed(data)
    compression = "gzip" if compressed else None
    if data.size * np.dtype(dtype).itemsize > WHOLE_COPY_BYTES:
        regions = stored_regions(data.io, data.node)
        if regions is not None:  # chunk by chunk, only the stored chunks: bounded memory, sparse stays sparse
            dset["data"] = H5DataIO(data=ProgressChunks(data, regions, chunks), chunks=chunks,
                                    compression=compression, **_fill_value_option(data))
            return
        check_fits_in_memory(data.size * np.dtype(dtype).itemsize, _dataset_name(data))
    dset["data"] = H5DataIO(data=data.read(), chunks=chunks if compressed or chunks != data.shape else None,
                            compression=compression)


def _dataset_name(data: ZarrDataset) -> str:
    return f"dataset /{data.node.path} of {data.io.store_location} (shape {data.shape})"


def _fill_value_option(data: ZarrDataset) -> dict[str, Any]:
    """The Zarr fill value as HDF5's, so chunks missing on both sides read the same (HDF5's default is 0)."""
    arr = data.dataset
    meta = getattr(arr, "metadata", None) or getattr(getattr(arr, "_inner", None), "metadata", None)
    fill = getattr(meta, "fill_value", None)
    if fill is None:
        return {}
    fill = np.asarray(fill, dtype=np.dtype(data.dtype))
    if fill.dtype.names is not None or fill == 0:  # NaN is not 0: kept
        return {}
    return {"fillvalue": fill[()]}


def _recorded_hdf5_text_type(io: ZarrIO, node: NodeInfo) -> np.dtype | None:
    """The HDF5 string type a conversion recorded for a Zarr text array (None: plain UTF-8 text)."""
    if node.kind != "array" or node.is_reference or node.is_compound:
        return None
    if node.hdmf_dtype not in ("ascii", "bytes", "utf8") and 0 not in node.shape and not node.is_fixed_length_bytes:
        return None  # plain text or numbers: nothing recorded (and no metadata parsed for it)
    stored = io.layout.open_array(io.store, node).dtype
    stored = stored if isinstance(stored, np.dtype) else stored.to_native_dtype()
    empty_text = stored.kind in "OTU" and 0 in node.shape  # HDF5IO finds no type in an empty object array
    if stored.kind != "S" and node.hdmf_dtype not in ("ascii", "bytes") and not empty_text:
        return None
    return hdf5_dtype_of(node.hdmf_dtype, stored)


def _restore_text_type(dset: DatasetBuilder, h5_dtype: np.dtype) -> None:
    """Text recorded as ASCII or fixed length: written back to HDF5 with that type."""
    data = dset.data
    if isinstance(data, ZarrDataset):
        check_fits_in_memory(data.size * OBJECT_ELEMENT_BYTES, _dataset_name(data))
    values = data.read() if isinstance(data, ZarrDataset) else data
    arr = np.asarray(_encoded(values), dtype=h5_dtype if h5_dtype.kind == "S" else object)
    dset["data"] = arr
    if dset.dtype is None:
        dset.dtype = h5_dtype


def _encoded(values: Any) -> Any:
    if isinstance(values, str):
        return values.encode("utf-8")
    if isinstance(values, np.ndarray) and values.dtype.kind in "OU":
        out = np.empty(values.shape, dtype=object)
        for idx in np.ndindex(values.shape):
            item = values[idx]
            out[idx] = item.encode("utf-8") if isinstance(item, str) else item
        return out
    return values


def _is_compressed(data: ZarrDataset) -> bool:
    codecs = data.node.document.get("codecs") or []
    names = {c.get("name") for c in codecs if isinstance(c, dict)}
    if data.node.document.get("compressor"):
        return True
    return bool(names - {"bytes", "transpose", "vlen-utf8", "vlen-bytes", "crc32c"})

