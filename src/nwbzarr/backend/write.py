"""Writing a builder tree: every metadata document written once, data written concurrently, then the
consolidated root written last (so an interrupted write never looks complete)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from hdmf.build import Builder, DatasetBuilder, GroupBuilder, LinkBuilder, ReferenceBuilder
from hdmf.data_utils import AbstractDataChunkIterator
from zarr import AsyncArray
from zarr.buffer import default_buffer_prototype

from ..errors import WriteError
from ..format.attributes import RESERVED_ATTRS
from ..format.base import ArraySpec, encode_json
from ..format.chunks import chunk_encoder, chunk_regions, single_chunk_bytes
from ..format.dtypes import spec_dtype_name
from ..format.names import InvalidNameError, check_node_name, join_path
from ..format.reference import ZarrReference, hdf5_region
from ..storage.batch import set_many
from ..storage.progress import advance, grow, progress_bar
from ..storage.url import is_hdf5_file
from ..writing.blocks import encode_and_store
from ..writing.collector import collector_running
from ..writing.jobs import logical_bytes
from .arrays import ZarrDataset
from .hdf5_types import fixed_length_values, hdf5_text_type, keeps_hdf5_types
from .planning import (
    DatasetPlan,
    compound_numpy_dtype,
    element_kind,
    guess_chunks,
    h5_source_options,
    is_array_source,
    looks_like_references,
    numeric_values,
    reference_field_names,
    resolve_shards,
    text_values,
    unwrap_dataio,
)
from .sparse_copy import check_fits_in_memory, sparse_regions

if TYPE_CHECKING:
    from ..writing.session import WriteSession
    from ..writing.stream import KeyStream
    from .io import ZarrIO

COPY_BLOCK_BYTES = 64 << 20
WRITE_CONCURRENCY = 64


@dataclass
class ArrayJob:
    path: str
    spec: ArraySpec
    documents: dict[str, dict]
    plan: DatasetPlan
    streamed_chunk: str | None = None  # the one chunk's key, when it was streamed while planning


@dataclass
class WritePlan:
    """Everything one ``write_builder`` call writes."""

    documents: dict[str, dict] = field(default_factory=dict)  # key -> doc, root excluded
    root_documents: dict[str, dict] = field(default_factory=dict)
    arrays: list[ArrayJob] = field(default_factory=list)
    written: list[Builder] = field(default_factory=list)
    chunk_keys: dict[str, Any] = field(default_factory=dict)  # array path -> keys stored, or "all" (manifest)
    streamed: set[str] = field(default_factory=set)  # document keys already stored while planning
    encoded: dict[str, bytes] = field(default_factory=dict)  # documents' bytes as stored (for the root)
    stream: KeyStream | None = None  # where planned keys went; it also removes those stored after planning

    def encode(self, documents: dict[str, dict]) -> list[tuple[str, bytes]]:
        """(key, bytes) of documents about to be stored, kept in ``encoded``."""
        texts = [(key, encode_json(doc)) for key, doc in documents.items()]
        self.encoded.update(texts)
        return texts


class TreeWriter:
    """Turns a root GroupBuilder into documents and data jobs, then writes them."""

    def __init__(self, io: ZarrIO, root: GroupBuilder, link_data: bool = True,
                 export_source: str | None = None, stream: KeyStream | None = None) -> None:
        self.io = io
        self.stream = stream  # new nodes' documents and one-chunk values are stored from here as planned
        self.layout = io.layout
        self.root = root
        self.link_data = link_data
        self.export_source = export_source  # the store being exported: its data is copied, never linked
        self.plan = WritePlan(stream=stream)
        self.local_fs = io.is_local_filesystem

    # --- planning ------------------------------------------------------------------------
    def build(self, extra_groups: dict[str, dict[str, str]] | None = None) -> WritePlan:
        """Plan the whole tree (and extra scalar-text groups such as the spec cache). With a stream, the last
        keys are handed over at the end (not waited for); a plan that fails removes every key it streamed."""
        try:
            self._plan_group(self.root, "")
            for group_path, arrays in (extra_groups or {}).items():
                self._plan_text_group(group_path, arrays)
            if self.stream is not None:
                self.stream.flush()
        except BaseException:
            if self.stream is not None:
                self.stream.abort()
            raise
        return self.plan

    def _plan_group(self, builder: GroupBuilder, path: str) -> None:
        written = self.io.get_written(builder)
        for name, child in builder.groups.items():
            self._check_name(name, path)
            self._plan_group(child, join_path(path, name))
        for name, child in builder.datasets.items():
            self._check_name(name, path)
            if not self.io.get_written(child):
                self._plan_dataset(child, join_path(path, name), builder)
        for name, link in builder.links.items():
            copied = self._orphan_link_copy(link)
            if copied is not None:
                self._check_name(name, path)
                self._plan_dataset(copied, join_path(path, name), builder)
        links = self._links_of(builder, path)
        if written and not self._links_changed(path, links):
            return
        attrs = self._encode_attrs(builder.attributes, path)
        if written:
            attrs = self._merge_existing_attrs(path, attrs)
        docs = self.layout.group_documents(path, self.layout.encode_attributes(attrs, links))
        if path == "":
            self.plan.root_documents.update(docs)
        else:
            self.plan.documents.update(docs)
            self._stream_documents(docs)
        self.plan.written.append(builder)

    def _check_name(self, name: str, parent_path: str) -> None:
        check_node_name(name, "/" + parent_path, local_filesystem=self.local_fs)

    def _links_of(self, builder: GroupBuilder, path: str) -> list[tuple[str, ZarrReference]]:
        links = []
        for name, link in builder.links.items():
            self._check_name(name, path)
            if self._orphan_link_copy(link) is None:
                links.append((name, self._link_target(link, path)))
        # datasets whose data is linked rather than copied live as links too
        for name, child in builder.datasets.items():
            target = self._data_link_target(child)
            if target is not None:
                links.append((name, target))
        return links

    def _links_changed(self, path: str, links: list) -> bool:
        node = self.io.nodes.get(path)
        if node is None:
            return True
        have = {(n, r.source, r.path) for n, r in node.links}
        return any((n, r.source, r.path) not in have for n, r in links)

    def _merge_existing_attrs(self, path: str, attrs: dict) -> dict:
        node = self.io.nodes.get(path)
        merged = dict(node.attrs) if node is not None else {}
        merged.update(attrs)
        return merged

    def _encode_attrs(self, attributes: dict[str, Any], path: str) -> dict[str, Any]:
        out = {}
        for key, value in attributes.items():
            if key in RESERVED_ATTRS:
                raise InvalidNameError(
                    f"attribute {key!r} on {'/' + path!r} is reserved by the Zarr layout; rename the attribute"
                )
            out[key] = self._attr_value(value, f"/{path}@{key}")
        return out

    def _attr_value(self, value: Any, where: str) -> Any:
        if isinstance(value, (ReferenceBuilder, Builder, ZarrReference)):
            return self.reference_to(value, where)
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], (ReferenceBuilder, Builder)):
            return [self.reference_to(v, where) for v in value]
        if isinstance(value, ZarrDataset):
            return value.read()
        return value

    # --- references and links ---------------------------------------------------------------
    def reference_to(self, target: Any, where: str, region: Any = None) -> ZarrReference:
        """A ZarrReference for a builder (in this tree or in another store)."""
        if isinstance(target, ZarrReference):
            return target
        if isinstance(target, _RegionTarget):
            return self.reference_to(target.builder, where, target.region)
        if isinstance(target, ReferenceBuilder):
            target = target.builder
        if isinstance(target, LinkBuilder):
            target = target.builder
        if not isinstance(target, Builder):
            raise WriteError(f"{where}: cannot store {type(target).__name__} as a reference")
        root, path = builder_root_and_path(target)
        if root is self.root or self._is_export_source(root.source):
            return ZarrReference(".", path, region=region)
        return ZarrReference(self._external_source(root, where), path, region=region)

    def _is_export_source(self, source: str | None) -> bool:
        """Whether ``source`` is the file being exported (whose objects the export copies into this store)."""
        from .io import same_location

        return self.export_source is not None and same_location(source, self.export_source)

    def _external_source(self, root: GroupBuilder, where: str) -> str:
        source = root.source
        if source is None:
            raise WriteError(f"{where}: the target lives in another file whose location is unknown")
        source = str(source)
        if is_hdf5_file(source):
            raise WriteError(
                f"{where} points into the HDF5 file {source!r}; Zarr cannot link into HDF5. Convert that "
                f"file first (nwbzarr convert {source} {source}.zarr) and link to the Zarr copy, or export "
                "with write_args={'link_data': False} to copy the data"
            )
        return self.io.relative_source(source)

    def _link_target(self, link: LinkBuilder, path: str) -> ZarrReference:
        target = link.builder
        root, _ = builder_root_and_path(target)
        if root is not self.root and not self._is_export_source(root.source) \
                and is_hdf5_file(str(root.source or "")):
            sibling = self.io.converted_sibling(str(root.source))
            if sibling is None:
                raise WriteError(
                    f"link /{join_path(path, link.name)} points into the HDF5 file {root.source!r}; convert that "
                    f"file to Zarr first, beside it ({root.source}.zarr), then convert this one"
                )
            _, tpath = builder_root_and_path(target)
            return ZarrReference(self.io.relative_source(sibling), tpath)
        orphan = self._orphan_target(link)
        if orphan is not None:  # only links kept by _orphan_link_copy reach here
            return self._orphan_data_link(orphan)
        return self.reference_to(target, f"link /{join_path(path, link.name)}")

    def _orphan_target(self, link: LinkBuilder) -> DatasetBuilder | None:
        """The target of a link to a dataset built outside any file (an export rebuilds a container of another
        file, e.g. a TimeSeries whose data is an external link, without a source): None for other links."""
        target = link.builder
        if not isinstance(target, DatasetBuilder):
            return None
        root, _ = builder_root_and_path(target)
        return target if root is not self.root and root.source is None else None

    def _orphan_link_copy(self, link: LinkBuilder) -> DatasetBuilder | None:
        """A copy of an orphan link's dataset, written in place of the link, as HDF5IO copies externally linked
        data on export; None when the link is kept (other links, or ``link_data`` with Zarr data to link to)."""
        target = self._orphan_target(link)
        if target is None or self._orphan_data_link(target) is not None:
            return None
        return DatasetBuilder(link.name, data=target.data, dtype=target.dtype, attributes=dict(target.attributes),
                              maxshape=target.maxshape, chunks=target.chunks)

    def _orphan_data_link(self, target: DatasetBuilder) -> ZarrReference | None:
        """With ``link_data``, an orphan link whose data was read from another Zarr store links to that store."""
        data, _ = unwrap_dataio(target.data)
        if not self.link_data or not isinstance(data, ZarrDataset) or data.io is self.io:
            return None
        if self._is_export_source(data.io.store_location):
            return ZarrReference(".", "/" + data.path)
        return ZarrReference(self.io.relative_source(data.io.store_location), "/" + data.path)

    def _data_link_target(self, builder: DatasetBuilder) -> ZarrReference | None:
        if self.io.get_written(builder):
            return None
        data, opts = unwrap_dataio(builder.data)
        if not isinstance(data, ZarrDataset) or data.io is self.io:
            return None
        if not (opts.get("link_data") or self.link_data) or self._is_export_source(data.io.store_location):
            return None
        return ZarrReference(self.io.relative_source(data.io.store_location), "/" + data.path)

    # --- datasets -------------------------------------------------------------------------------
    def _plan_dataset(self, builder: DatasetBuilder, path: str, parent: GroupBuilder) -> None:
        if self._data_link_target(builder) is not None:
            self.plan.written.append(builder)
            return
        where = "/" + path
        try:
            plan = self.dataset_plan(builder, where)
        except (InvalidNameError, WriteError):
            raise
        except (TypeError, ValueError) as exc:
            raise WriteError(f"cannot write dataset {where!r}: {exc}") from exc
        attrs = self.layout.encode_attributes(self._encode_attrs(builder.attributes, path), [])
        self._add_array(ArrayJob(path, plan.spec, self.layout.array_documents(path, plan.spec, attrs), plan))
        self.plan.written.append(builder)

    def _add_array(self, job: ArrayJob) -> None:
        """Plan an array's documents and data; with a stream, store its documents (and its one chunk, when
        it is small values) now. An iterator's documents wait for its data (``nwbzarr_incomplete``)."""
        self.plan.documents.update(job.documents)
        self.plan.arrays.append(job)
        if self.stream is None or job.plan.iterator is not None:
            return
        self._stream_documents(job.documents)
        if job.plan.values is not None and _has_data(job.spec):
            direct = self.layout.encode_single_chunk(job.path, job.documents, np.asarray(job.plan.values), job.spec)
            if direct is not None:
                self.stream.put([(f"{job.path}/{direct[0]}", direct[1])])
                job.streamed_chunk = direct[0]

    def _stream_documents(self, docs: dict[str, dict]) -> None:
        if self.stream is not None:
            self.stream.put(self.plan.encode(docs))
            self.plan.streamed.update(docs)

    def dataset_plan(self, builder: DatasetBuilder, where: str) -> DatasetPlan:
        data, opts = unwrap_dataio(builder.data)
        if data is None:
            raise WriteError(f"dataset {where!r} has no data")
        if isinstance(data, AbstractDataChunkIterator):
            return self._iterator_plan(data, opts, builder, where)
        if isinstance(builder.dtype, list) or _has_fields(data):
            return self._compound_plan(builder, data, opts, where)
        dtype_name = spec_dtype_name(builder.dtype)
        if looks_like_references(data, dtype_name) or _is_reference_source(data):
            return self._reference_plan(data, opts, where)
        if is_array_source(data):
            return self._copy_plan(data, dtype_name, opts, where)
        kind = element_kind(data, dtype_name, where)
        values = text_values(data) if kind == "string" else numeric_values(data, dtype_name, where)
        return DatasetPlan(self._spec(values.shape, kind, values.dtype, opts, values), values=values)

    def _spec(self, shape, kind, dtype, opts, values=None) -> ArraySpec:
        itemsize = dtype.itemsize if isinstance(dtype, np.dtype) and dtype.kind != "O" else 16
        chunks = opts.get("chunks")
        if chunks is None or chunks is True:
            chunks = guess_chunks(tuple(shape), itemsize)
        return ArraySpec(
            shape=tuple(int(s) for s in shape),
            kind=kind,
            dtype=dtype if kind in ("numeric", "compound") else None,
            chunks=tuple(chunks) if shape else (),
            compressors=_codec_arg(opts, "compressors"),
            filters=_codec_arg(opts, "filters"),
            serializer=opts.get("serializer") or "auto",
            shards=resolve_shards(opts.get("shards"), tuple(shape), tuple(chunks) if shape else (), dtype),
            fill_value=opts.get("fill_value"),
        )

    def _reference_plan(self, data: Any, opts: dict, where: str) -> DatasetPlan:
        raw = _reference_elements(data)
        refs = _map_nested(raw, lambda t: None if t is None else self.reference_to(t, where))
        values = self.layout.encode_array_values(ArraySpec(shape=(), kind="reference"), refs)
        values = np.asarray(values, dtype=object)
        return DatasetPlan(self._spec(values.shape, "reference", np.dtype(object), opts), values=values)

    def _compound_plan(self, builder: DatasetBuilder, data: Any, opts: dict, where: str) -> DatasetPlan:
        scalar = _is_scalar_compound(data)
        if isinstance(data, np.ndarray) and data.ndim == 0:
            data = data[()]
        rows = [_row_tuple(r) for r in ([data] if scalar else _rows_of(data))]
        ref_names = reference_field_names(builder, rows)
        dtype_specs = builder.dtype if isinstance(builder.dtype, list) else [
            {"name": n, "dtype": data.dtype.fields[n][0]} for n in data.dtype.names
        ]
        npd = compound_numpy_dtype(dtype_specs, rows, ref_names)
        converted = []
        for row in rows:
            items = [row[n] for n in npd.names] if isinstance(row, dict) else list(row)
            converted.append(tuple(
                (self.reference_to(v, where) if v is not None else None) if n in ref_names else v
                for n, v in zip(npd.names, items)
            ))
        shape = () if scalar else (len(converted),)
        spec = self._spec(shape, "compound", npd, opts)
        spec.ref_fields = tuple(n for n in npd.names if n in ref_names)
        values = self.layout.encode_array_values(spec, converted[0] if scalar else converted)
        return DatasetPlan(spec, values=values)

    def _copy_plan(self, source: Any, dtype_name: str | None, opts: dict, where: str) -> DatasetPlan:
        opts = {**h5_source_options(source), **opts}
        text_type = hdf5_text_type(source) if keeps_hdf5_types(self.io) else None
        if text_type is not None:
            return self._hdf5_text_plan(source, text_type, opts)
        src_dtype = source.dtype if isinstance(source.dtype, np.dtype) else np.dtype(object)
        kind = "string" if src_dtype.kind in "OSUT" else "numeric"
        if kind == "numeric" and dtype_name not in (None, "numeric"):
            from ..format.dtypes import numpy_dtype_for_spec

            target = numpy_dtype_for_spec(dtype_name)
            dtype = src_dtype if src_dtype.kind == target.kind and src_dtype.itemsize >= target.itemsize else target
        else:
            dtype = src_dtype
        shape = tuple(source.shape)
        if not shape:
            value = source[()]
            values = text_values(value) if kind == "string" else np.asarray(value, dtype=dtype)
            return DatasetPlan(self._spec((), kind, dtype, opts), values=values)
        if opts.get("chunks") is not None:
            opts["chunks"] = tuple(max(1, c) for c in opts["chunks"])
        return DatasetPlan(self._spec(shape, kind, dtype, opts), source=source)

    def _hdf5_text_plan(self, source: Any, text_type: tuple[str, int | None], opts: dict) -> DatasetPlan:
        """ASCII or fixed-length HDF5 text, labelled (and fixed-length kept as bytes) for a faithful copy."""
        label, length = text_type
        if opts.get("chunks") is not None:
            opts["chunks"] = tuple(max(1, c) for c in opts["chunks"])
        if length is None:
            values = text_values(source[()])
            spec = self._spec(values.shape, "string", values.dtype, opts)
        else:
            values = fixed_length_values(source)
            spec = self._spec(values.shape, "numeric", values.dtype, opts)
        spec.hdmf_dtype = label
        return DatasetPlan(spec, values=self.layout.encode_array_values(spec, values))

    def _iterator_plan(self, dci: AbstractDataChunkIterator, opts: dict, builder: DatasetBuilder,
                       where: str) -> DatasetPlan:
        dtype = np.dtype(dci.dtype) if dci.dtype is not None else None
        maxshape = tuple(dci.maxshape) if dci.maxshape is not None else None
        if dtype is None or maxshape is None:
            raise WriteError(f"{where}: the data chunk iterator reports no dtype or maxshape")
        kind = "string" if dtype.kind in "OSU" else "numeric"
        if kind == "numeric" and builder.dtype is not None and spec_dtype_name(builder.dtype) not in (None, "numeric"):
            from ..format.dtypes import numpy_dtype_for_spec

            dtype = numpy_dtype_for_spec(spec_dtype_name(builder.dtype)) if dtype.kind != "b" else dtype
        shape = tuple(0 if s is None else int(s) for s in maxshape)
        chunks = opts.get("chunks") or dci.recommended_chunk_shape()
        if chunks is None:
            chunks = iterator_chunks(shape, maxshape, dtype)
        spec = self._spec(shape, kind, dtype, {**opts, "chunks": chunks})
        return DatasetPlan(spec, iterator=dci)

    def _plan_text_group(self, group_path: str, arrays: dict[str, str]) -> None:
        parts = group_path.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in self.io.nodes:
                docs = self.layout.group_documents(sub, self.layout.encode_attributes({}, []))
                self.plan.documents.update(docs)
                self._stream_documents(docs)
        for name, text in arrays.items():
            path = join_path(group_path, name)
            values = np.array(text, dtype=object)
            spec = ArraySpec(shape=(), kind="string", chunks=())
            docs = self.layout.array_documents(path, spec, {})
            self._add_array(ArrayJob(path, spec, docs, DatasetPlan(spec, values=values)))


# --- execution ---------------------------------------------------------------------------------
async def execute_plan(session: WriteSession, plan: WritePlan, iterator_queue: Any) -> None:
    """Write data and documents; the root (and consolidated metadata) is left to the caller.

    Small arrays are encoded here as single chunks and stored with the documents in one batch;
    the rest go through zarr's ``setitem``; stored arrays are copied block by block; iterators are queued.
    """
    store = session.store
    buffer_of = default_buffer_prototype().buffer.from_bytes
    value_bytes = 0
    if session.bar is not None:  # sizes of 4,000 arrays cost 20 ms: only worked out for a bar
        value_bytes = sum(_job_bytes(job) for job in plan.arrays if job.plan.values is not None)
        grow(session.bar, value_bytes + sum(_job_bytes(j) for j in plan.arrays if j.plan.source is not None))
    deferred = {k for job in plan.arrays if job.plan.iterator is not None for k in job.documents}
    items = [(key, buffer_of(text)) for key, text in plan.encode(
        {k: d for k, d in plan.documents.items() if k not in deferred and k not in plan.streamed})]
    slow, large = [], []
    for job in plan.arrays:
        if job.plan.values is None or not _has_data(job.spec):
            if job.plan.values is not None:
                plan.chunk_keys[job.path] = []
            continue
        if job.streamed_chunk is not None:
            plan.chunk_keys[job.path] = [job.streamed_chunk]
            continue
        values = np.asarray(job.plan.values)
        direct = session.layout.encode_single_chunk(job.path, job.documents, values, job.spec)
        if direct is not None:  # most small arrays: no zarr array opened
            items.append((f"{job.path}/{direct[0]}", buffer_of(direct[1])))
            plan.chunk_keys[job.path] = [direct[0]]
            continue
        arr = session.layout.open_array_for_write(store, job.path, job.documents)
        encoded = single_chunk_bytes(arr, values) if isinstance(arr, AsyncArray) else None
        if encoded is not None:
            chunk_key, chunk = encoded
            items.append((f"{job.path}/{chunk_key}", chunk))
            plan.chunk_keys[job.path] = [chunk_key]
        elif isinstance(arr, AsyncArray) and chunk_encoder(arr) is not None:
            large.append((arr, values))
            plan.chunk_keys[job.path] = "all"  # encode_and_store stores every chunk, fill-valued ones too
        else:
            slow.append((job, arr))
    if plan.stream is not None:  # removed with the streamed keys if the helper then fails
        plan.stream.record([key for key, _ in items])
        plan.stream.record([f"{arr.store_path.path}/{key}" for arr, _ in large for key in _all_chunk_keys(arr)])
    await set_many(store, items)
    for arr, values in large:
        await encode_and_store(arr, chunk_encoder(arr), values)
    # not zarr's concurrent_map: after a failure every other write must have ended before the error is raised
    limit = asyncio.Semaphore(WRITE_CONCURRENCY)

    async def write_values(job: ArrayJob, arr: Any) -> None:
        async with limit:
            try:
                await arr.setitem(..., job.plan.values)
            except Exception as exc:
                raise WriteError(f"writing dataset /{job.path} failed: {exc}") from exc

    await _gather([write_values(job, arr) for job, arr in slow])
    advance(session.bar, value_bytes)
    with collector_running():  # copies of stored arrays stream data for a long time
        for job in plan.arrays:
            if job.plan.source is not None and _has_data(job.spec):
                await copy_array(session, job, session.bar)
    for job in plan.arrays:
        if job.plan.iterator is not None:
            iterator_queue.append(job, job.plan.iterator)


@contextlib.contextmanager
def write_progress(io: ZarrIO) -> Iterator[None]:
    """One bar in bytes over a whole write (``io.show_progress``), handed to every writer through
    ``io.write_session()``: values, copies and iterators (here or in worker processes) all advance it."""
    if (io.show_progress is not None and not io.show_progress) or io.write_bar is not None:
        yield
        return
    with progress_bar(io.show_progress, "write") as bar:
        io.write_bar = bar
        try:
            yield
        finally:
            io.write_bar = None


def _job_bytes(job: ArrayJob) -> int:
    """An array's share of the write bar: its decoded size (``writing.jobs.logical_bytes``), none if empty."""
    return logical_bytes(job.spec, job.spec.shape) if _has_data(job.spec) else 0


def iterator_chunks(shape: tuple[int, ...], maxshape: tuple, dtype: np.dtype) -> tuple[int, ...]:
    """Chunks for an iterator of unknown length: about 4 MiB along the growing first axis."""
    if maxshape and maxshape[0] is None:
        row_bytes = max(1, dtype.itemsize * int(np.prod(shape[1:]) or 1))
        rows = min(max(1, (4 << 20) // row_bytes), 1 << 20)
        return (rows,) + tuple(max(1, s) for s in shape[1:])
    return guess_chunks(tuple(max(1, s) for s in shape), dtype.itemsize)


def _all_chunk_keys(arr: AsyncArray) -> list[str]:
    """Every chunk key of an array (``encode_and_store`` stores them all), relative to the array."""
    grid = tuple(arr.metadata.chunk_grid.chunk_shape)
    return [arr.metadata.encode_chunk_key(coords) for coords, _ in chunk_regions(tuple(arr.metadata.shape), grid)]


def _has_data(spec: ArraySpec) -> bool:
    return all(s > 0 for s in spec.shape)


async def _gather(tasks: list) -> None:
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]


async def copy_array(session: WriteSession, job: ArrayJob, bar: Any = None) -> None:
    """Copy a stored array (h5py, zarr, lazy dataset) block by block along the first axis, chunk-aligned;
    ``bar`` counts its blocks as they are stored, and the whole array once done (sparse parts included)."""
    source = job.plan.source
    arr = session.layout.open_array_for_write(session.store, job.path, job.documents)
    shape = job.spec.shape
    chunk0 = job.spec.chunks[0] if job.spec.chunks else shape[0]
    row_bytes = int(np.prod(shape[1:]) or 1) * (job.spec.dtype.itemsize if job.spec.dtype is not None else 16)
    rows = max(chunk0, (COPY_BLOCK_BYTES // max(row_bytes, 1)) // chunk0 * chunk0)
    loop = asyncio.get_running_loop()
    regions = await loop.run_in_executor(None, sparse_regions, source, rows * row_bytes > 4 * COPY_BLOCK_BYTES)
    if regions is None:
        check_fits_in_memory(rows * row_bytes, f"a block of {rows} rows of dataset /{job.path}")
    blocks = regions if regions is not None else [
        (slice(start, min(shape[0], start + rows)),) for start in range(0, shape[0], rows)
    ]
    done = 0
    for region in blocks:
        block = await loop.run_in_executor(None, _read_block, source, region)
        if job.spec.kind == "string":
            block = text_values(block)
        elif job.spec.dtype is not None and block.dtype != job.spec.dtype:
            block = block.astype(job.spec.dtype)
        try:
            await arr.setitem(region if len(region) > 1 else region[0], block)
        except Exception as exc:
            raise WriteError(f"copying into dataset /{job.path} failed: {exc}") from exc
        counted = logical_bytes(job.spec, block.shape)
        advance(bar, counted)
        done += counted
    advance(bar, _job_bytes(job) - done)


def _read_block(source: Any, region: tuple[slice, ...]) -> np.ndarray:
    key = region if len(region) > 1 else region[0]
    if isinstance(source, ZarrDataset):
        return np.asarray(source._read_raw(key))
    return np.asarray(source[key])


# --- helpers -----------------------------------------------------------------------------------
def builder_root_and_path(builder: Builder) -> tuple[Builder, str]:
    """The root builder of a builder's tree and the builder's absolute path in it."""
    names = []
    node = builder
    while node.parent is not None:
        names.append(node.name)
        node = node.parent
    location = getattr(node, "location", None)
    if location is not None and node.name != "root":
        # a detached builder (e.g. the target of an HDF5 external link) knows its own place
        names.append(node.name)
        return node, "/" + "/".join(p for p in [location.strip("/")] + list(reversed(names)) if p)
    return node, "/" + "/".join(reversed(names))



def _codec_arg(opts: dict, key: str) -> Any:
    """Codecs for zarr: absent/None means the default ("auto"); an empty list means none at all."""
    value = opts.get(key)
    if value is None:
        return "auto"
    if isinstance(value, (list, tuple)) and not value:
        return None
    return value


def _has_fields(data: Any) -> bool:
    dt = getattr(data, "dtype", None)
    if isinstance(dt, np.dtype):
        return dt.names is not None
    return isinstance(dt, list)


def _is_reference_source(data: Any) -> bool:
    from hdmf.query import ReferenceResolver

    return isinstance(data, ReferenceResolver) and not _has_fields(data)


def _is_scalar_compound(data: Any) -> bool:
    if isinstance(data, np.ndarray):
        return data.ndim == 0
    if isinstance(data, np.void):
        return True
    return isinstance(data, tuple) or (isinstance(data, list) and data and not isinstance(
        data[0], (list, tuple, dict, np.void)))


def _row_tuple(row: Any) -> Any:
    """A compound row as a tuple (numpy records included), or a dict as given."""
    if isinstance(row, np.void):
        return tuple(row.tolist())
    if isinstance(row, np.ndarray) and row.dtype.names is not None:
        return tuple(row[()].tolist())
    return row


def _rows_of(data: Any) -> list:
    if isinstance(data, np.ndarray):
        return list(data)
    if hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(data, list):
        return list(data[:]) if len(data) else []
    return list(data)


def _reference_elements(data: Any) -> Any:
    if isinstance(data, (ReferenceBuilder, Builder, ZarrReference)):
        return data
    if hasattr(data, "dataset") and _is_h5_region_dataset(data.dataset):
        return _h5_region_references(data)
    if isinstance(data, (list, tuple)):
        return list(data)
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return list(data[:]) if len(data) else []
    return data


def _map_nested(values: Any, fn) -> Any:
    if isinstance(values, list):
        return [_map_nested(v, fn) for v in values]
    return fn(values)


def _is_h5_region_dataset(dset: Any) -> bool:
    import h5py

    return isinstance(dset, h5py.Dataset) and h5py.check_dtype(ref=dset.dtype) is h5py.RegionReference


def _h5_region_references(data: Any) -> list:
    """Builders plus regions for an HDF5 dataset of region references (regions kept, not dropped)."""
    import h5py

    dset = data.dataset
    out = []
    for raw in dset[()].reshape(-1):
        if not raw:
            out.append(None)
            continue
        target = dset.file[raw]
        builder = data.io.get_builder(target)
        space = h5py.h5r.get_region(raw, dset.id)
        out.append(_RegionTarget(builder, hdf5_region(space, target.shape)))
    return out


@dataclass
class _RegionTarget:
    builder: Builder
    region: Any

