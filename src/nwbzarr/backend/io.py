"""``ZarrIO``: the HDMF I/O backend on zarr-python 3 (builders in, builders out)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from hdmf.backends.errors import UnsupportedOperation
from hdmf.backends.io import HDMFIO
from hdmf.build import Builder, BuildManager, GroupBuilder, TypeMap
from hdmf.container import Container
from hdmf.spec import NamespaceCatalog
from zarr.abc.store import Store
from zarr.storage import LocalStore

from .._private_api import set_hdmfio_manager, sync
from ..errors import DanglingReferenceError
from ..format.attributes import SPECLOC_ATTR
from ..format.base import FormatError, Layout, NodeInfo, encode_json
from ..format.corrupt import with_store
from ..format.detect import detect_layout, get_layout
from ..format.io import write_encoded_documents
from ..format.reference import ZarrReference
from ..storage.locks import acquire_store_lock, check_lock_timeout
from ..storage.remote import is_remote as reads_over_network
from ..storage.url import is_hdf5_file
from ..writing.collector import collector_paused, collector_running
from ..writing.documents import put_documents
from ..writing.queue import ZarrIODataChunkIteratorQueue
from ..writing.session import WriteSession
from ..writing.stream import open_stream
from . import lifecycle
from . import location as loc
from .attr_types import type_unsigned_attributes
from .links import DEFAULT_POLICY, check_policy, check_target
from .read import TreeReader, check_typed_root
from .spec import SPEC_LOC, ZarrSpecReader, newest_version, spec_cache_texts
from .write import TreeWriter, execute_plan, write_progress

VALID_MODES = ("r", "r-", "r+", "a", "w", "w-", "x")
READ_ONLY_MODES = ("r", "r-")


class ZarrIO(HDMFIO):
    """Read and write HDMF containers in Zarr (current layout, or the legacy one with ``zarr_format=2``).

    ``path`` is a local path, a URL (fsspec, or a store scheme such as ``sqlite://``) or any zarr 3
    ``Store``.  Modes: ``r``, ``r-`` (ignore consolidated metadata), ``r+``, ``a``, ``w``, ``w-``, ``x``.
    ``external_links``: which other stores links and references may open: ``"none"``, ``"relative"`` (default:
    inside the directory holding the store; remote: same host), ``"local"`` or ``"any"`` (see links.py).
    Writable modes hold the store's writer lock from open to close: another writer waits up to
    ``lock_timeout`` seconds (0: fails at once, negative: waits for ever), see docs/reliability.md.
    Remote stores get at most zarr's ``async.concurrency`` requests in flight (``zarr.config.set``), and
    http(s) reads retry 429/5xx and dropped connections (nwbzarr.storage.remote, docs/compatibility.md).
    ``storage_options``: the remote client's options; the key ``"remote_client"`` (``"obstore"`` or
    ``"fsspec"``) chooses the client, else ``$NWBZARR_REMOTE_CLIENT``, else obstore for reads it can serve and
    fsspec otherwise (nwbzarr.storage.remote_clients, docs/compatibility.md).
    """

    def __init__(
        self,
        path: str | Path | Store,
        mode: str = "r",
        manager: BuildManager | None = None,
        storage_options: dict | None = None,
        force_overwrite: bool = False,
        zarr_format: int | None = None,
        external_links: str = DEFAULT_POLICY,
        lock_timeout: float = 0.0,
    ) -> None:
        if mode not in VALID_MODES:
            raise ValueError(f"invalid mode {mode!r} for {path!r}: use one of {', '.join(VALID_MODES)}")
        if zarr_format not in (None, 2, 3):
            raise ValueError(f"zarr_format must be 2 (legacy layout), 3 (current) or None, not {zarr_format!r}")
        self._path = path
        self._mode = mode
        self._storage_options = storage_options
        self._force_overwrite = force_overwrite
        self._zarr_format = zarr_format
        self._external_links = check_policy(external_links)
        self._lock_timeout = check_lock_timeout(lock_timeout)  # seconds to wait for another writer
        self._writer_lock: Any = None
        self._store: Store | None = None
        self._location: str | None = None
        self._layout: Layout | None = None
        self._nodes: dict[str, NodeInfo] | None = None
        self._opened_documents: dict[str, Any] | None = None  # what the open read (remote), for the first load
        self._fresh_store = False  # the store holds nothing but what this IO wrote (``write_builder`` streams)
        self._root_builder: GroupBuilder | None = None
        self._reader: TreeReader | None = None
        self._written: dict[int, Builder] = {}
        self._external: dict[str, ZarrIO] = {}
        self._consolidated_stale = False
        self._export_manager: BuildManager | None = None
        self._closed_store: Store | None = None  # what reads go through after close(), see lifecycle.py
        self._zarr_root: Any = None
        self.show_progress: bool | None = False  # one bar in bytes per write (None: when stderr is a tty)
        self.write_bar: Any = None  # that bar, while a write is in progress (backend.write.write_progress)
        self.manifest_checksums = False  # record each chunk's md5 in the chunk manifest at close (reads them back)
        self._manifest_stale = False
        self._manifest_known: dict[str, Any] = {}  # array path -> chunk keys this session stored (None: list them)
        self._manifest_arrays: dict[str, dict] | None = None  # array path -> metadata document, after a write
        self._owns_store = not isinstance(path, Store)
        source = str(path) if isinstance(path, (str, Path)) and "://" not in str(path) else None
        super().__init__(manager=manager, source=source)

    # --- properties ----------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    @property
    def store(self) -> Store:
        """The zarr Store; once closed, the store that lazily read data reopen on demand (read-only where the
        store offers a read-only view), see lifecycle.py."""
        if self._store is not None:
            return self._store
        if self._closed_store is not None:
            return self._closed_store
        raise UnsupportedOperation(f"{self._path!r} is closed")

    @property
    def _file(self) -> Any:
        """The root ``zarr.Group`` (None once closed), as hdmf-zarr's ``ZarrIO._file``: pynwb's
        ``validate(io=...)`` and other tools read it. Opened on first use; writable modes create an empty root
        group when there is none yet. Read and write data through the IO, not through this group."""
        if self._store is None:
            return None
        if self._zarr_root is None:
            self._zarr_root = lifecycle.root_group(self)
        return self._zarr_root

    @property
    def layout(self) -> Layout:
        return self._layout

    @property
    def store_location(self) -> str | None:
        return self._location

    @property
    def source_name(self) -> str | None:
        return self._location

    @property
    def path(self) -> Any:
        return self._path

    @property
    def is_local_filesystem(self) -> bool:
        return isinstance(self._store, LocalStore)

    @property
    def nodes(self) -> dict[str, NodeInfo]:
        if self._nodes is None:
            self._nodes = self._load_nodes()
        return self._nodes

    @property
    def writable(self) -> bool:
        return self._mode not in READ_ONLY_MODES

    # --- open / close ------------------------------------------------------------------------------
    def open(self) -> None:
        """Open the store; a failed open leaves no directory behind that it created."""
        if self._store is not None:
            return
        local = lifecycle.local_path(self._path)
        existed = local is not None and os.path.exists(local)
        try:
            self._open_store()
        except BaseException:
            self._abandon_store()
            lifecycle.remove_if_created_empty(local, existed)
            raise
        self._closed_store = None
        self._zarr_root = None

    def _abandon_store(self) -> None:
        if self._store is not None and self._owns_store:
            try:
                self._store.close()
            except Exception:  # pragma: no cover - closing is best effort
                pass
        self._store = None
        if self._writer_lock is not None:
            self._writer_lock.release()
            self._writer_lock = None

    def _open_store(self) -> None:
        read_only = self._mode in READ_ONLY_MODES
        if self._mode == "w" and self._force_overwrite:
            self._remove_plain_file()
        self._check_local_path()
        self._store, self._location = loc.open_location(self._path, read_only, self._storage_options)
        if not read_only:
            self._writer_lock = acquire_store_lock(self._store, self._lock_timeout)
        self._opened_documents = {}
        self._fresh_store = False
        layout = self._run_sync(detect_layout(self._store, self._opened_documents))
        if self._mode in ("r", "r-", "r+"):
            if layout is None:
                raise FormatError(f"{self._describe()} is not a Zarr store (no zarr.json, .zgroup or .zmetadata)")
            self._layout = layout
        elif self._mode == "a":
            if layout is None:
                self._create_root_group()  # as NWBHDF5IO and hdmf-zarr: mode 'a' creates a missing file
                self._fresh_store = True
            else:
                self._layout = layout
                self._nodes = self._load_nodes()
        elif self._mode == "w":
            self._clear_for_overwrite(layout)
            self._layout = get_layout(self._zarr_format)
            self._nodes = {}
            self._fresh_store = True
        else:  # w-, x
            if layout is not None or self._has_content():
                raise FileExistsError(f"{self._describe()} already exists (mode {self._mode!r} never overwrites)")
            self._layout = get_layout(self._zarr_format)
            self._nodes = {}
            self._fresh_store = True

    def _create_root_group(self) -> None:
        """Start a new store with an empty root group (mode 'a' on a path holding nothing yet)."""
        if self._has_content():
            raise FileExistsError(f"{self._describe()} exists and is not a Zarr store; mode 'a' adds to a Zarr "
                                  "store or creates a new one (use mode 'w' with force_overwrite=True to replace it)")
        self._layout = get_layout(self._zarr_format)
        self._run_sync(put_documents(self._store, self._layout.group_documents("", {})))
        self._nodes = self._load_nodes()

    def _check_local_path(self) -> None:
        local = lifecycle.local_path(self._path)
        if local is not None:
            if self._mode in ("r", "r-", "r+") and not os.path.exists(local):
                raise FileNotFoundError(f"{local!r} does not exist (mode {self._mode!r} reads an existing store)")
            if is_hdf5_file(local):
                raise FormatError(f"{local!r} is an HDF5 file, not a Zarr store: use NWBHDF5IO, or "
                                  "`nwbzarr convert` to make a Zarr copy")

    def _remove_plain_file(self) -> None:
        """``force_overwrite`` in mode ``w`` replaces a regular file that holds no Zarr store (an HDF5 file,
        say), as hdmf-zarr does; single-file Zarr stores (SQLite, zip, ...) are cleared as stores instead."""
        if isinstance(self._path, (str, Path)) and "://" not in str(self._path):
            local = os.path.abspath(os.path.expanduser(str(self._path)))
            if os.path.isfile(local) and not ZarrIO.can_read(local):
                os.remove(local)

    def is_remote(self) -> bool:
        """True when the store is reached over a network file system (fsspec: s3, gcs, http, ...); never
        reopens a closed IO (which in mode ``w`` would clear the store)."""
        if self._store is not None:
            return loc.is_remote_store(self._store)
        return loc.is_remote_store(self._path) if isinstance(self._path, Store) else loc.is_remote_url(self._path)

    @property
    def abspath(self) -> str | None:
        """The absolute path (or URL) of the store, as hdmf-zarr's ``abspath``."""
        return os.path.abspath(self.source) if self.source else self._location

    def get_builder_disk_path(self, builder: Builder, filepath: str | None = None) -> str:
        """Where a builder's node lives: ``<store path>/<path in the store>`` (hdmf-zarr's helper)."""
        from .write import builder_root_and_path

        base = filepath if filepath is not None else (self.abspath or str(self._path))
        return os.path.join(base, builder_root_and_path(builder)[1].lstrip("/"))

    def get_builder_exists_on_disk(self, builder: Builder) -> bool:
        """Whether the builder's node is in the store (any storage, not only local directories)."""
        from .write import builder_root_and_path

        return builder_root_and_path(builder)[1].strip("/") in self.nodes

    def _has_content(self) -> bool:
        async def any_key() -> bool:
            async for _ in self._store.list_prefix(""):
                return True
            return False

        return self._run_sync(any_key())

    def _holds_zarr_documents(self) -> bool:
        """True when the store holds Zarr metadata documents (e.g. a write that was interrupted)."""
        names = ("zarr.json", ".zarray", ".zgroup", ".zattrs")

        async def scan() -> bool:
            seen = 0
            async for key in self._store.list_prefix(""):
                if key.rsplit("/", 1)[-1] in names:
                    return True
                seen += 1
                if seen > 10000:
                    break
            return False

        return self._run_sync(scan())

    def _clear_for_overwrite(self, layout: Layout | None) -> None:
        if layout is None and self._has_content() and not self._force_overwrite \
                and not self._holds_zarr_documents():
            raise FileExistsError(
                f"{self._describe()} exists and is not a Zarr store; refusing to overwrite it in mode 'w' "
                "(pass force_overwrite=True to replace it)"
            )
        if isinstance(self._store, LocalStore):
            root = Path(str(self._store.root))
            if root.exists():
                shutil.rmtree(root)
            return
        self._run_sync(self._store.delete_dir(""))

    def close(self) -> None:
        """Release the store's handles. Datasets already read stay readable: the store reopens on demand,
        read-only (as hdmf-zarr, whose arrays outlive the IO); writing after close raises."""
        if self._store is None:
            return
        try:
            with collector_paused():  # documents of every node: many objects, no garbage
                if self._consolidated_stale and self.writable:
                    self.consolidate_metadata()
                if self._manifest_stale and self.writable:
                    self.write_manifest(self.manifest_checksums)
            if self.writable:
                lifecycle.end_transaction(self._store, commit=True)
        finally:
            for other in self._external.values():
                other.close()
            self._external.clear()
            store = self._store
            self._abandon_store()
            self._closed_store = lifecycle.read_view_after_close(store, self._owns_store, self.writable)
            self._zarr_root = None

    def __enter__(self) -> ZarrIO:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is not None and self.writable:
            lifecycle.end_transaction(self._store, commit=False)  # a transactional store commits nothing
        self.close()

    def _describe(self) -> str:
        return repr(self._location or str(self._path))

    # --- running async work ------------------------------------------------------------------------
    def _run_sync(self, coro: Any) -> Any:
        """Run a coroutine on zarr's I/O loop and wait for its result (the sync face of the async core)."""
        return sync(coro)

    def write_session(self) -> WriteSession:
        """What writers of array data see of this file (``nwbzarr.writing``): its store and layout."""
        return WriteSession(self.store, self.layout, show_progress=self.show_progress, bar=self.write_bar)

    def _load_nodes(self) -> dict[str, NodeInfo]:
        use_consolidated = self._mode != "r-"
        seen, self._opened_documents = self._opened_documents, None  # reused once: later loads read afresh
        try:
            return self._run_sync(self._layout.load_nodes(self.store, use_consolidated=use_consolidated,
                                                          seen=seen))
        except FormatError as exc:
            raise with_store(exc, self._describe()) from exc

    # --- reading ------------------------------------------------------------------------------------
    def read_builder(self) -> GroupBuilder:
        """The root GroupBuilder (built once; datasets stay lazy)."""
        if self._root_builder is None:
            self._reader = TreeReader(self, self.nodes)
            self._root_builder = self._reader.read()
            if self.manager is not None:  # JSON attributes lose their unsigned type: restore it from the specs
                type_unsigned_attributes(self._root_builder, self.manager.namespace_catalog)
        return self._root_builder

    def read(self, **kwargs: Any) -> Container:
        """The root container (HDMF's ``read``); a store whose root group has no HDMF type is named as such."""
        check_typed_root(self, self.read_builder())
        return super().read(**kwargs)

    def resolve_ref(self, ref: ZarrReference | dict | str, where: str = "reference") -> Builder:
        """The builder a reference (or link) points to, opening the other store for external ones."""
        ref = ZarrReference.from_json(ref, where)
        other = self._io_for_source(ref.source, where)
        if other is not self:
            return other.resolve_ref(ZarrReference(".", ref.path), where)
        if self._reader is None:
            self.read_builder()
        path = ref.path.strip("/")
        builder = self._reader.builders.get(path)
        if builder is None:
            raise DanglingReferenceError(f"{where} in {self._describe()} points to {ref.path!r}, which does not exist")
        return builder

    def _io_for_source(self, source: str, where: str) -> ZarrIO:
        if source in (".", "", None):
            return self
        candidates = loc.resolve_source(self._location, source)
        for candidate in candidates:
            if self._location is not None and _same_location(candidate, self._location):
                return self
        for candidate in check_target(self._external_links, self._location, source, candidates, where):
            if candidate in self._external:
                return self._external[candidate]
            if "://" in candidate or os.path.isdir(candidate):
                try:
                    own = self._storage_options or loc.store_options(self._store)
                    options = loc.options_for_target(self._location, own, candidate)
                    other = ZarrIO(candidate, mode="r", manager=self.manager, storage_options=options,
                                   external_links=self._external_links)
                except (FileNotFoundError, FormatError):
                    continue
                self._external[candidate] = other
                return other
        raise DanglingReferenceError(
            f"{where} in {self._describe()} points to the store {source!r}, which was not found "
            f"(looked at {', '.join(candidates)})"
        )

    def get_builder(self, zarr_obj: Any) -> Builder:
        """The builder of a dataset read by this IO (or of a node path)."""
        path = zarr_obj if isinstance(zarr_obj, str) else getattr(zarr_obj, "path", None)
        if path is None:
            raise ValueError(f"cannot find the builder of {zarr_obj!r}")
        return self.resolve_ref(ZarrReference(".", "/" + str(path).strip("/")))

    def get_container(self, zarr_obj: Any) -> Container:
        return self.manager.construct(self.get_builder(zarr_obj))

    def get_written(self, builder: Builder, check_on_disk: bool = False) -> bool:
        """Whether this IO has written (or read) the builder."""
        written = id(builder) in self._written and self._written[id(builder)] is builder
        if written and check_on_disk:
            from .write import builder_root_and_path

            return builder_root_and_path(builder)[1].strip("/") in self.nodes
        return written

    def _mark_written(self, builder: Builder) -> None:
        self._written[id(builder)] = builder

    # --- writing ------------------------------------------------------------------------------------
    def write(self, container: Container, cache_spec: bool = True, link_data: bool = True,
              exhaust_dci: bool = True, number_of_jobs: int = 1, max_threads_per_process: int | None = None,
              multiprocessing_context: Any = None, consolidate_metadata: bool = True, scheduler: Any = None,
              **kwargs: Any) -> None:
        """Write a container (the root of its hierarchy); ``scheduler``: a dask.distributed Client."""
        self._check_writable()
        if self.manager is None:
            raise ValueError("ZarrIO.write needs a BuildManager (pass manager=..., or use NWBZarrIO)")
        try:
            with collector_paused():  # HDMF's build and the plan: millions of objects, no garbage
                super().write(container=container, cache_spec=cache_spec, link_data=link_data,
                              exhaust_dci=exhaust_dci, number_of_jobs=number_of_jobs,
                              max_threads_per_process=max_threads_per_process,
                              multiprocessing_context=multiprocessing_context,
                              consolidate_metadata=consolidate_metadata, scheduler=scheduler, **kwargs)
        except BaseException:
            lifecycle.end_transaction(self._store, commit=False)
            raise

    def write_builder(self, builder: GroupBuilder, link_data: bool = True, exhaust_dci: bool = True,
                      cache_spec: bool = False, number_of_jobs: int = 1, max_threads_per_process: int | None = None,
                      multiprocessing_context: Any = None, consolidate_metadata: bool = True,
                      scheduler: Any = None, export_source: str | None = None, **kwargs: Any) -> None:
        """Write a root GroupBuilder: documents once each, data concurrently, consolidated root last.

        Like HDF5IO and hdmf-zarr, this caches no specifications unless ``cache_spec=True`` (``write()`` and
        ``export()`` pass their own ``cache_spec``, True by default). ``export_source``: the store being
        exported (its datasets are copied and links into it become internal, as ``HDF5IO`` does).
        """
        self._check_writable()
        existing = self.nodes
        extra = self._spec_cache_groups(existing) if cache_spec else {}
        stream = open_stream(self._store) if self._fresh_store else None  # see ``writing.stream``
        self._fresh_store = False
        try:
            plan = TreeWriter(self, builder, link_data=link_data, export_source=export_source,
                              stream=stream).build(extra)
        except BaseException:
            self._fresh_store = stream is not None and not stream.keys  # its keys removed: as it was
            raise
        self._add_specloc(plan, cache_spec or SPEC_LOC in existing)
        queue = ZarrIODataChunkIteratorQueue(number_of_jobs=number_of_jobs,
                                             max_threads_per_process=max_threads_per_process,
                                             multiprocessing_context=multiprocessing_context,
                                             scheduler=scheduler)
        try:  # the streamed keys are stored meanwhile, and waited for before the root
            with write_progress(self):
                self._run_sync(execute_plan(self.write_session(), plan, queue))
                if exhaust_dci or len(queue):
                    with collector_running():  # iterators may stream data for hours
                        queue.exhaust_queue(self)
            documents = self._all_documents(existing)
            documents.update(plan.documents)
            documents.update(plan.root_documents)
            for job in plan.arrays:
                documents.update(job.documents)
            root = self._root_texts(plan.root_documents, documents, consolidate_metadata, plan.encoded)
        except BaseException:
            if stream is not None:
                stream.stop()
            raise
        if stream is not None:
            stream.finish()
        self._run_sync(write_encoded_documents(self._store, root))
        self._note_chunks_written(plan, documents)
        self._written.update((id(b), b) for b in plan.written)
        self._mark_tree_written(builder)
        self._nodes = None
        self._zarr_root = None
        self._reader = None
        self._root_builder = None if not self._written_root_is(builder) else self._root_builder

    def _written_root_is(self, builder: GroupBuilder) -> bool:
        return self._root_builder is builder

    def _mark_tree_written(self, builder: Builder) -> None:
        stack = [builder]
        while stack:
            node = stack.pop()
            self._written[id(node)] = node
            if isinstance(node, GroupBuilder):
                stack.extend(node.groups.values())
                stack.extend(node.datasets.values())
                self._written.update((id(link), link) for link in node.links.values())

    def _check_writable(self) -> None:
        if self._store is None:
            raise UnsupportedOperation(f"cannot write to {self._describe()}: the IO is closed (open a new one "
                                       "in mode 'a' or 'r+' to add to the file)")
        if not self.writable:
            raise UnsupportedOperation(f"cannot write to {self._describe()}: it was opened in mode {self._mode!r}")

    def _spec_cache_groups(self, existing: dict[str, NodeInfo]) -> dict[str, dict[str, str]]:
        catalogs = [m.namespace_catalog for m in (self.manager, self._export_manager) if m is not None]
        have = {tuple(p.split("/")[1:3]) for p in existing if p.startswith(SPEC_LOC + "/") and p.count("/") >= 2}
        out: dict[str, dict[str, str]] = {}
        for catalog in catalogs:
            texts = spec_cache_texts(catalog, skip=have)
            for group, files in texts.items():
                out.setdefault(f"{SPEC_LOC}/{group}", files)
                have.add(tuple(group.split("/")))
        return out

    def _add_specloc(self, plan: Any, has_specs: bool) -> None:
        if has_specs and plan.root_documents:
            self._layout.attributes_of("", plan.root_documents)[SPECLOC_ATTR] = SPEC_LOC

    def _all_documents(self, nodes: dict[str, NodeInfo]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for node in nodes.values():
            out.update(self._layout.documents_of(node))
        return out

    def _root_texts(self, root_documents: dict[str, dict], documents: dict[str, dict], consolidate: bool,
                    encoded: dict[str, bytes]) -> dict[str, bytes]:
        """The root's documents to store, with the consolidated metadata of ``documents`` (``encoded``: the
        bytes of those this write stored, reused rather than encoded again)."""
        if not root_documents:
            root_node = self.nodes.get("") if self._nodes is not None else None
            root_documents = self._layout.documents_of(root_node) if root_node else {}
        final = {key: encode_json(doc) for key, doc in root_documents.items()}
        consolidate = consolidate and lifecycle.consolidates(self._store)
        if consolidate:
            final.update(self._layout.encode_consolidated(documents, encoded))
        self._consolidated_stale = not consolidate
        return final

    def consolidate_metadata(self) -> None:
        """Rewrite consolidated metadata so that it matches the hierarchy in the store."""
        self._check_writable()
        if not lifecycle.consolidates(self._store):
            self._consolidated_stale = False
            return
        self._nodes = None
        nodes = self._run_sync(self._layout.load_nodes(self._store, use_consolidated=False))
        documents = self._all_documents(nodes)
        self._run_sync(put_documents(self._store, self._layout.consolidated_documents(documents)))
        self._consolidated_stale = False
        self._nodes = None

    def _append_to_dataset(self, dataset: Any, value: Any) -> None:
        """Append one element to a stored dataset along its first axis (mode ``a``/``r+``)."""
        from .append import append_element

        self._check_writable()
        append_element(self, dataset, value)
        self._consolidated_stale = True
        self._manifest_stale, self._manifest_arrays = True, None
        self._manifest_known[dataset.node.path] = None

    # --- chunk manifest (docs/format.md) ------------------------------------------------------------
    def write_manifest(self, checksums: bool = False) -> None:
        """Record the chunk keys every array holds (and their md5s with ``checksums``); done at close."""
        from ..format.manifest import array_documents, holds_manifest, write_manifest

        self._check_writable()
        if not holds_manifest(self._store):  # e.g. Icechunk: Zarr keys only, and its own snapshot checksums
            self._manifest_stale, self._manifest_known, self._manifest_arrays = False, {}, None
            return
        arrays = self._manifest_arrays if self._manifest_arrays is not None else array_documents(self.nodes)
        known = self._manifest_known or None  # None: list every array (an explicit refresh)
        self._run_sync(write_manifest(self._store, arrays, self._layout.zarr_format, checksums, known))
        self._manifest_stale, self._manifest_known, self._manifest_arrays = False, {}, None

    def _note_chunks_written(self, plan: Any, documents: dict[str, dict]) -> None:
        """What the manifest needs from a write: the chunk keys the plan stored, and every array's metadata."""
        from ..format.manifest import array_documents_of_plan

        self._manifest_known.update({job.path: plan.chunk_keys.get(job.path) for job in plan.arrays})
        self._manifest_arrays = array_documents_of_plan(documents)
        self._manifest_stale = True

    def verify(self, checksums: bool = False) -> Any:
        """A ``ChunkReport``: chunks missing, extra or (``checksums``) altered against the manifest."""
        from ..format.manifest import holds_manifest
        from ..format.verify import verify_store

        if not holds_manifest(self.store):
            raise UnsupportedOperation(
                f"{self._describe()} is a {type(self.store).__name__}, which holds only Zarr keys and so no chunk "
                "manifest; it checks its own data (an Icechunk snapshot is verified by Icechunk itself)")
        return self._run_sync(verify_store(self.store, self._layout, str(self._location or self._path), checksums))

    # --- export ------------------------------------------------------------------------------------
    def export(self, src_io: HDMFIO, container: Container | None = None, write_args: dict | None = None,
               clear_cache: bool = False, cache_spec: bool = True, number_of_jobs: int = 1,
               max_threads_per_process: int | None = None, multiprocessing_context: Any = None,
               consolidate_metadata: bool = True) -> None:
        """Export everything ``src_io`` holds (or ``container``) into this store, as ``HDF5IO.export`` does
        (hdmf-zarr 0.14's arguments).

        Datasets of ``src_io`` are copied (never linked back); with ``link_data=False`` the builders are rebuilt
        from the containers (``clear_cache=True``), which migrates an older file to the installed schema.
        """
        self._check_writable()
        write_args = dict(write_args or {})
        write_args.setdefault("cache_spec", cache_spec)
        write_args.update(_export_write_args(number_of_jobs, max_threads_per_process, multiprocessing_context,
                                             consolidate_metadata))
        write_args["export_source"] = _source_location(src_io)
        if not write_args.get("link_data", True):
            clear_cache = True
        if self.manager is None and src_io.manager is not None:
            set_hdmfio_manager(self, src_io.manager)
        self._export_manager = src_io.manager  # its namespaces (extensions included) are cached too
        try:
            with collector_paused():
                super().export(src_io=src_io, container=container, write_args=write_args, clear_cache=clear_cache)
        finally:
            self._export_manager = None

    @classmethod
    def export_io(cls, path: str | Path | Store, src_io: HDMFIO, container: Container | None = None,
                  write_args: dict | None = None, clear_cache: bool = False, cache_spec: bool = True,
                  **kwargs: Any) -> None:
        """Export ``src_io`` into a new store at ``path`` (mode ``w``), like ``HDF5IO.export_io``."""
        with cls(path, mode="w", **kwargs) as write_io:
            write_io.export(src_io=src_io, container=container, write_args=write_args, clear_cache=clear_cache,
                            cache_spec=cache_spec)

    # --- namespaces ---------------------------------------------------------------------------------
    @classmethod
    def load_namespaces(cls, namespace_catalog: NamespaceCatalog | TypeMap, path: Any = None,
                        storage_options: dict | None = None, namespaces: list[str] | None = None,
                        file: Any = None, io: HDMFIO | None = None) -> dict:
        """Load the namespaces cached in a store into a NamespaceCatalog or TypeMap.

        The store is ``path``, or ``file`` (a root ``zarr.Group`` such as ``io._file``, which is how
        ``pynwb.validate(io=...)`` calls this), or an open ``io``.
        """
        if sum(x is not None for x in (path, file, io)) != 1:
            raise ValueError("give exactly one of path, file (a root zarr.Group) or io to load namespaces from")
        if io is not None:
            return io.load_namespaces_io(namespace_catalog, namespaces)
        source = lifecycle.group_source(file) if file is not None else path
        with ZarrIO(source, mode="r", storage_options=storage_options) as reader:
            return reader.load_namespaces_io(namespace_catalog, namespaces)

    def load_namespaces_io(self, namespace_catalog: NamespaceCatalog | TypeMap,
                           namespaces: list[str] | None = None) -> dict:
        catalog = getattr(namespace_catalog, "namespace_catalog", namespace_catalog)  # a TypeMap's catalog
        # remote: a namespace the catalog holds at the cached version is not fetched (hdmf ignores it); local
        # stores read every cached spec, so a damaged one is named at open as NWBHDF5IO and hdmf-zarr do
        loaded = _loaded_versions(catalog) if reads_over_network(self.store) else None
        readers = self.spec_readers(namespaces, loaded=loaded)
        if not readers:
            return {}
        return namespace_catalog.load_namespaces("namespace", reader=readers)

    def spec_readers(self, namespaces: list[str] | None = None,
                     loaded: dict[str, str] | None = None) -> dict[str, ZarrSpecReader]:
        """One ZarrSpecReader per cached namespace (its newest cached version); a namespace whose version
        ``loaded`` already holds (name -> version) is not read: hdmf ignores it on load anyway."""
        versions = self.get_namespace_versions()
        wanted = namespaces if namespaces is not None else list(versions)
        readers = {}
        for ns in wanted:
            if ns not in versions:
                raise KeyError(f"namespace {ns!r} is not cached in {self._describe()}")
            source = f"{self._location}:/{SPEC_LOC}/{ns}/{versions[ns]}"
            if (loaded or {}).get(ns) == versions[ns]:
                readers[ns] = ZarrSpecReader.already_loaded(ns, versions[ns], source)
            else:
                readers[ns] = ZarrSpecReader(self._read_spec_texts(f"{SPEC_LOC}/{ns}/{versions[ns]}"), source)
        return readers

    def get_namespace_versions(self) -> dict[str, str]:
        """Cached namespaces and the newest version of each."""
        found: dict[str, list[str]] = {}
        for path in self.nodes:
            parts = path.split("/")
            if len(parts) == 3 and parts[0] == SPEC_LOC and self.nodes[path].kind == "group":
                found.setdefault(parts[1], []).append(parts[2])
        return {ns: newest_version(vs) for ns, vs in found.items()}

    @classmethod
    def get_namespaces(cls, path: Any, storage_options: dict | None = None) -> dict[str, str]:
        with cls(path, mode="r", storage_options=storage_options) as io:
            return io.get_namespace_versions()

    def _read_spec_texts(self, group: str) -> dict[str, str]:
        nodes = [n for p, n in self.nodes.items() if p.startswith(group + "/") and n.kind == "array"]

        # one batch, remote requests within the shared limit (nwbzarr.storage.remote)
        values = self._run_sync(self._layout.read_small_arrays(self.store, nodes))
        out = {}
        for node, value in zip(nodes, values):
            arr = np.asarray(value).reshape(-1)
            text = arr[0]
            out[node.name] = text.decode("utf-8") if isinstance(text, bytes) else str(text)
        return out

    @staticmethod
    def can_read(path: Any, storage_options: dict | None = None) -> bool:
        """True when ``path`` is a Zarr store nwbzarr can open (a store it opens to look is closed again);
        ``storage_options`` open a URL as ``ZarrIO`` would (an endpoint, credentials, ``anon``)."""
        try:
            store, _ = loc.open_location(path, True, storage_options)
        except Exception:
            return False
        try:
            return sync(detect_layout(store)) is not None
        except Exception:
            return False
        finally:
            if not isinstance(path, Store):
                store.close()

    # --- helpers used by the writer -------------------------------------------------------------
    def relative_source(self, target: str) -> str:
        return loc.relative_source(self._location, target)

    def converted_sibling(self, hdf5_path: str) -> str | None:
        """The Zarr conversion of an HDF5 file, when it sits beside it (``x.nwb`` -> ``x.nwb.zarr``)."""
        for candidate in (hdf5_path + ".zarr", os.path.splitext(hdf5_path)[0] + ".zarr"):
            if os.path.isdir(candidate):
                return candidate
        return None


def _loaded_versions(catalog: Any) -> dict[str, str]:
    """The version of every namespace a NamespaceCatalog holds (name -> version)."""
    if not isinstance(catalog, NamespaceCatalog):
        return {}
    return {name: str(catalog.get_namespace(name).get("version")) for name in catalog.namespaces}


def _export_write_args(number_of_jobs: int, max_threads_per_process: int | None, multiprocessing_context: Any,
                       consolidate_metadata: bool) -> dict[str, Any]:
    """hdmf-zarr's export arguments that go on to ``write_builder`` (only those given other than default)."""
    given = {"number_of_jobs": (number_of_jobs, 1), "max_threads_per_process": (max_threads_per_process, None),
             "multiprocessing_context": (multiprocessing_context, None),
             "consolidate_metadata": (consolidate_metadata, True)}
    return {name: value for name, (value, default) in given.items() if value != default}


def _source_location(src_io: HDMFIO) -> str | None:
    """Where an exported IO reads from: a Zarr store's location, or another backend's file path."""
    if isinstance(src_io, ZarrIO):
        return src_io.store_location
    source = getattr(src_io, "source", None)
    return os.path.abspath(source) if source is not None and "://" not in str(source) else source


def same_location(a: str | None, b: str | None) -> bool:
    """Whether two store locations (paths or URLs) name the same store."""
    if a is None or b is None:
        return False
    return _same_location(str(a), str(b))


def _same_location(a: str, b: str) -> bool:
    if "://" in a or "://" in b:
        return a.rstrip("/") == b.rstrip("/")
    return os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))

