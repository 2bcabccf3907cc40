"""Shared machinery of the few-files stores: a directory store whose chunks may live in container files.

Metadata and other non-chunk keys are plain files (atomic temp + rename). A chunk is either a loose file
at its key's path (always the newest copy) or a member of a container file chosen by ``_routing.Router``.
Subclasses supply the container format (HDF5, zip) through the abstract ``_c_*`` hooks; the zarr store
contract (async and sync API, key and byte-range checks, open/close) is ``SyncBackendStore``'s.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from zarr.abc.buffer import Buffer
from zarr.abc.store import ByteRequest

from nwbzarr.storage._container_locks import (
    LOCK_DIR_NAME,
    ContainerLocks,
    LockSpec,
    lock_token,
    validate_lock,
)
from nwbzarr.storage._deletes import DeleteBatches, Pending
from nwbzarr.storage._files import (
    fsync_dir,
    prune_empty_dirs,
    read_file,
    tmp_path_for,
    write_file,
)
from nwbzarr.storage._routing import (
    METADATA_NAMES,
    STORE_KIND_FILE,
    TMP_PREFIX,
    ArrayLayout,
    Route,
    Router,
    check_not_reserved,
    is_hidden_name,
)
from nwbzarr.storage._verify import ArrayOpener, VerifyReport, registered_array_opener, verify_store
from nwbzarr.storage.base import BytesLike, SyncBackendStore
from nwbzarr.storage.progress import Progress, progress_bar

ItemSource = Callable[[], bytes]


@dataclass
class ConsolidateReport:
    """What ``consolidate()`` / ``repack()`` did."""

    containers: int = 0
    chunks: int = 0
    bytes: int = 0


SET_BATCH_MIN = 64  # keys worth a thread call of their own in set_many


def split_evenly(items: list, threads: int, least: int) -> list[list]:
    """``items`` cut into at most ``threads`` contiguous runs of at least ``least`` items (one run if fewer)."""
    runs = max(1, min(threads, len(items) // least))
    size = max(1, -(-len(items) // runs))
    return [items[i:i + size] for i in range(0, len(items), size)]


class ContainerStore(SyncBackendStore):
    """Directory store whose chunk keys may be stored in per-index-group container files.

    Safe for several writing processes when containers are locked across them (``lock`` not None);
    safe across ``fork`` (file locks and handles are opened per access).
    """

    supports_fork: bool = True
    listing_needs_open = False  # a walk of the root: lists nothing when it does not exist yet
    suffix: ClassVar[str] = ".container"
    scheme: ClassVar[str] = "container"

    def __init__(
        self,
        root: Path | str,
        depth: int = 3,
        write_direct: bool = True,
        lock: LockSpec = "file",
        read_only: bool = False,
    ) -> None:
        super().__init__(read_only=read_only)
        if not isinstance(root, (str, Path)):
            raise TypeError(f"'root' must be a string or Path instance. Got {type(root)} instead.")
        validate_lock(lock)
        self.root = Path(os.path.abspath(root))
        self._root_str = str(self.root)
        self.depth = depth
        self.write_direct = bool(write_direct)
        self.lock = lock
        self._router = Router(self.root, depth, self.suffix)
        self._locks = ContainerLocks(self.root, lock, writable=not read_only)
        # write session: containers created by this store (and its pickled copies in worker processes)
        # may be changed in place; any other container only by an atomic rebuild
        self._session = uuid.uuid4().hex
        self._deletes = DeleteBatches()

    @property
    def supports_multiprocess_writes(self) -> bool:  # type: ignore[override]
        """Processes may share the store when its containers are locked across them."""
        return self.lock is not None

    # ---------------------------------------------------------------- identity
    def _config(self) -> dict[str, Any]:
        return {"root": self.root, "depth": self.depth, "write_direct": self.write_direct, "lock": self.lock}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)) or type(other) is not type(self):
            return False
        mine, theirs = self._config(), other._config()
        mine["lock"], theirs["lock"] = lock_token(self.lock), lock_token(other.lock)
        return mine == theirs

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.root, self.depth))

    def __str__(self) -> str:
        return f"{self.scheme}://{self.root.as_posix()}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self}', depth={self.depth}, write_direct={self.write_direct})"

    def __getstate__(self) -> dict[str, Any]:
        return {**self._config(), "read_only": self.read_only, "is_open": self._is_open, "session": self._session}

    def __setstate__(self, state: dict[str, Any]) -> None:
        is_open = state.pop("is_open")
        session = state.pop("session", None)
        self.__init__(**state)  # type: ignore[misc]
        self._is_open = is_open
        if session:
            self._session = session

    def _b_open(self) -> None:
        """Create the root (writable stores) and check it is a directory."""
        if not self.read_only:
            self.root.mkdir(parents=True, exist_ok=True)
            self._mark_kind()
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root} does not exist or is not a directory")

    def _mark_kind(self) -> None:
        """Name this store's kind in a reserved file at its root, so that opening the folder by its plain
        path opens this store (a directory store would read packed chunks as missing, i.e. fill values)."""
        marker = self.root / STORE_KIND_FILE
        if not marker.exists():
            write_file(str(marker), self.scheme.encode())

    def _b_close(self) -> None:
        """Nothing to release: containers and lock files are opened per access."""

    def _key(self, key: str) -> str:
        return check_not_reserved(super()._key(key))

    # ---------------------------------------------------------------- container hooks
    @abstractmethod
    def _c_read(self, path: Path, member: str, byte_range: ByteRequest | None) -> bytes | None:
        """Bytes of ``member`` (or part of it); None if the container or member does not exist."""

    @abstractmethod
    def _c_members(self, path: Path) -> list[str]:
        """Member names of a container (empty if it does not exist)."""

    @abstractmethod
    def _c_update(self, path: Path, puts: dict[str, Any], deletes: Iterable[str]) -> None:
        """Write and delete members of one container; the caller holds its lock."""

    @abstractmethod
    def _c_build(self, path: Path, items: Iterable[tuple[str, ItemSource]]) -> None:
        """Write a complete new container at ``path`` from (member, source) pairs, flushed to disk."""

    def _c_size(self, path: Path, member: str) -> int | None:
        data = self._c_read(path, member, None)
        return None if data is None else len(data)

    def _c_in_place_ok(self, path: Path) -> bool:
        """Whether ``_c_update`` may change this existing container in place without risking what it
        already holds if the writer is killed (default: yes, for formats whose updates are atomic)."""
        return True

    # ---------------------------------------------------------------- backend primitives (keys checked)
    def _route(self, key: str) -> Route | None:
        return self._router.route(key)

    def _b_get(self, key: str, byte_range: ByteRequest | None) -> bytes | None:
        """A plain file at the key's path wins (documents, and loose chunks, which are always the newest
        copy) and needs no routing; otherwise the chunk's container, if the key routes to one."""
        try:
            data = read_file(os.path.join(self._root_str, key), byte_range)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            data = None
        if key.rpartition("/")[2] in METADATA_NAMES:  # another process may have changed it
            self._router.note_metadata(key, data if byte_range is None else None)
            return data
        if data is not None:
            return data
        route = self._route(key)
        if route is None:
            return None
        cpath = self.root / route.container
        if not cpath.exists():
            return None
        with self._locks.hold(route.container, shared=True):
            return self._c_read(cpath, route.member, byte_range)

    def _b_set(self, key: str, data: BytesLike) -> None:
        self._set_blocking(key, data)

    def _b_set_if_absent(self, key: str, data: BytesLike) -> None:
        self._set_blocking(key, data, exclusive=True)

    def _set_blocking(self, key: str, value: Any, exclusive: bool = False) -> None:
        self._check_writable()
        route = self._route(key)
        if route is None:
            self._set_plain(key, value, exclusive)
            return
        with self._locks.hold(route.container):
            if exclusive and self._exists_locked(route):
                return
            cpath = self.root / route.container
            if self.write_direct and not route.layout.single_chunk \
                    and (not cpath.exists() or self._c_in_place_ok(cpath)):
                self._c_update(cpath, {route.member: value}, ())
                self._unlink_loose(key)
            else:  # a loose file (atomic), folded in by consolidate(); reads prefer it meanwhile
                write_file(os.path.join(self._root_str, key), value)

    def _set_plain(self, key: str, value: Any, exclusive: bool) -> None:
        if self._router.container_lead(key) is not None:
            raise ValueError(f"key {key!r} names a chunk container file of this store; refusing to write it")
        written = write_file(os.path.join(self._root_str, key), value, exclusive=exclusive)
        if key.rpartition("/")[2] in METADATA_NAMES:  # that node only: others keep their cached metadata
            self._router.note_metadata(key, bytes(value) if written else None)

    def _unlink_loose(self, key: str) -> None:
        path = self.root / key
        try:
            path.unlink()
        except FileNotFoundError:
            return
        prune_empty_dirs(self.root, path.parent)

    def _exists_locked(self, route: Route) -> bool:
        if (self.root / route.key).is_file():
            return True
        return route.member in self._c_members(self.root / route.container)

    def _b_exists(self, key: str) -> bool:
        route = self._route(key)
        if (self.root / key).is_file():
            return route is not None or self._router.container_lead(key) is None
        if route is None or not (self.root / route.container).exists():
            return False
        with self._locks.hold(route.container, shared=True):
            return self._exists_locked(route)

    def _b_delete(self, key: str) -> None:
        self._check_writable()
        route = self._route(key)
        if route is None:
            self._delete_plain(key)
            return
        done, lead = self._deletes.enqueue(route.container, route.member, key)
        if lead:
            self._lead_deletes(route.container)
        done.result()  # settled by the leader, with the outcome of the batch that held it

    def _delete_plain(self, key: str) -> None:
        """Delete a key that is not a chunk of an array (a document, a directory, a stray file)."""
        if (self.root / key).is_dir():
            self._b_delete_prefix(key)
            return
        if self._router.container_lead(key) is None:
            self._unlink_loose(key)
        if key.rpartition("/")[2] in METADATA_NAMES:
            self._router.invalidate()

    def _lead_deletes(self, container: str) -> None:
        """Hold the container's lock and apply queued deletes batch by batch until none is left."""
        try:
            with self._locks.hold(container):
                self._deletes.drain(container, partial(self._delete_batch, container))
        except BaseException as exc:
            self._deletes.abandon(container, exc)
            raise

    def _delete_batch(self, container: str, batch: Pending) -> None:
        """Delete a batch of chunks of one container (caller holds its lock): one rebuild for all."""
        for key, _ in batch.values():
            self._unlink_loose(key)
        self._delete_members(container, list(batch))

    def _delete_members(self, container: str, members: list[str]) -> None:
        """Delete members from a container (caller holds its lock); remove the file once empty."""
        cpath = self.root / container
        if not cpath.exists():
            return
        present = set(self._c_members(cpath))
        doomed = [m for m in members if m in present]
        if len(present) == len(doomed):
            cpath.unlink()
            prune_empty_dirs(self.root, cpath.parent)
        elif doomed and self._c_in_place_ok(cpath):
            self._c_update(cpath, {}, doomed)
        elif doomed:
            kept = [(m, _member_source(self, cpath, m)) for m in sorted(present - set(doomed))]
            self._replace_container(cpath, kept)

    def _b_size(self, key: str) -> int | None:
        route = self._route(key)
        try:
            return (self.root / key).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            pass
        if route is None or not (self.root / route.container).exists():
            return None
        with self._locks.hold(route.container, shared=True):
            return self._c_size(self.root / route.container, route.member)

    # ---------------------------------------------------------------- listing
    def _walk_start(self, prefix: str) -> str:
        """Directory to walk for keys starting with ``prefix``: containers of an array sit at its top."""
        directory = prefix[:-1] if prefix.endswith("/") else prefix.rpartition("/")[0]
        owner = self._router.owner(directory)
        return owner.path if owner is not None else directory

    def _iter_files(self, start: str) -> Iterator[str]:
        base = self.root / start if start else self.root
        for dirpath, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if not is_hidden_name(d)]  # the lock directory
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            rel_dir = "" if rel_dir == "." else rel_dir
            for name in files:
                if not is_hidden_name(name):
                    yield f"{rel_dir}/{name}" if rel_dir else name

    def _container_keys(self, rel: str) -> list[str] | None:
        """Chunk keys held by file ``rel`` if it is a container, else None."""
        found = self._router.container_lead(rel)
        if found is None:
            return None
        layout, lead = found
        with self._locks.hold(rel, shared=True):
            members = self._c_members(self.root / rel)
        keys = (self._router.member_key(layout, lead, m) for m in members)
        return [k for k in keys if k is not None]

    def _b_list_prefix(self, prefix: str) -> list[str]:
        self._router.invalidate()
        out: set[str] = set()
        for rel in self._iter_files(self._walk_start(prefix)):
            keys = self._container_keys(rel)
            for key in [rel] if keys is None else keys:
                if key.startswith(prefix):
                    out.add(key)
        return sorted(out)

    def _b_delete_prefix(self, prefix: str) -> None:
        """Delete a directory: one walk, one ``rmtree`` and one rebuild per container (faster than zarr's
        ``Store.delete_dir``, which deletes key by key)."""
        self._check_writable()
        p = prefix.strip("/")
        if p == "":
            self._clear_blocking()
            return
        keys = self._b_list_prefix(p + "/")
        target = self.root / p
        if target.is_dir():
            shutil.rmtree(target)
        by_container: dict[str, list[str]] = {}
        for key in keys:
            route = self._router.route(key)
            if route is not None and not route.container.startswith(p + "/"):
                by_container.setdefault(route.container, []).append(route.member)
        for container, members in by_container.items():
            with self._locks.hold(container):
                self._delete_members(container, members)
        prune_empty_dirs(self.root, target.parent)
        self._router.invalidate()

    def _clear_blocking(self) -> None:
        self._check_writable()
        if self.root.is_dir():
            for entry in self.root.iterdir():
                if entry.name in (LOCK_DIR_NAME, STORE_KIND_FILE):
                    continue  # other processes may hold locks on it; the kind stays the store's
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        self._router.invalidate()

    # ---------------------------------------------------------------- async API beyond the base
    async def set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        """Many keys in one thread call per core rather than one hop per key (more threads than cores
        only contend: measured 1.4-1.6x slower on a metadata-heavy NWB file)."""
        self._check_writable()
        items = [(self._key(key), self._value(value)) for key, value in values]
        await self._ensure_open()
        # documents first: chunks written after them are routed from the cached layouts (no probing
        # the disk for an array's metadata), and a reader never finds chunks of an unknown array
        docs = [item for item in items if item[0].rpartition("/")[2] in METADATA_NAMES]
        chunks = [item for item in items if item[0].rpartition("/")[2] not in METADATA_NAMES]
        threads = os.cpu_count() or 1
        for phase in (docs, chunks):
            batches = split_evenly(phase, threads=threads, least=SET_BATCH_MIN) if phase else []
            await asyncio.gather(*(asyncio.to_thread(self._set_batch_blocking, batch) for batch in batches))

    def _set_batch_blocking(self, items: list[tuple[str, Any]]) -> None:
        for key, value in items:
            self._set_blocking(key, value)

    async def delete(self, key: str) -> None:
        # docstring inherited
        self._check_writable()
        key = self._key(key)
        await self._ensure_open()
        route = await asyncio.to_thread(self._route, key)
        if route is None:
            await asyncio.to_thread(self._delete_plain, key)
            return
        # queued on the loop's thread: concurrent deletes of one container join one batch, and only
        # the leader occupies a worker thread while the rest wait here
        done, lead = self._deletes.enqueue(route.container, route.member, key)
        if lead:
            await asyncio.to_thread(self._lead_deletes, route.container)
        await asyncio.wrap_future(done)

    # ---------------------------------------------------------------- maintenance
    def consolidate(
        self, parallel: int = 1, executor: Executor | None = None, progress: Progress = False
    ) -> ConsolidateReport:
        """Move loose chunk files into their containers in place; safe to kill at any moment.

        Each container is rebuilt in a temporary file, flushed, renamed into place, and only then are its
        loose chunks deleted. ``parallel`` threads (or ``executor``) work on distinct containers.
        Extra disk while it runs: one container being built per worker (its old members plus its loose
        chunks), since the loose copies may only go once the new container is durable. A smaller
        ``depth`` (fewer chunks per container) lowers that bound; it cannot shrink to one chunk per
        worker without giving up kill-safety. ``progress``: a bar of containers on stderr (True: always,
        None: when stderr is a terminal, False: none).
        """
        self._ensure_open_sync()
        self._check_writable()
        self._router.invalidate()
        plan: dict[str, list[tuple[str, str]]] = {}
        for rel in self._iter_files(""):
            route = self._router.route(rel)
            if route is not None:
                plan.setdefault(route.container, []).append((rel, route.member))
        jobs = [(container, entries) for container, entries in sorted(plan.items())]
        return self._run_jobs(self._consolidate_one, jobs, parallel, executor, progress, "consolidate")

    def repack(self, parallel: int = 1, executor: Executor | None = None,
               progress: Progress = False) -> ConsolidateReport:
        """Rewrite every container compactly (HDF5 never shrinks after deletes or overwrites)."""
        self._ensure_open_sync()
        self._check_writable()
        self._router.invalidate()
        jobs = [(rel, []) for rel in self._iter_files("") if self._router.container_lead(rel) is not None]
        return self._run_jobs(self._consolidate_one, jobs, parallel, executor, progress, "repack")

    def _run_jobs(
        self,
        fn: Callable[[str, list[tuple[str, str]]], tuple[int, int]],
        jobs: list[tuple[str, list[tuple[str, str]]]],
        parallel: int,
        executor: Executor | None,
        progress: Progress,
        label: str,
    ) -> ConsolidateReport:
        report = ConsolidateReport()
        bar = _progress_bar(len(jobs), label, progress)
        own = executor is None
        pool = executor or ThreadPoolExecutor(max_workers=max(1, int(parallel)))
        try:
            futures = [pool.submit(fn, container, entries) for container, entries in jobs]
            for fut in futures:
                chunks, nbytes = fut.result()
                report.containers += 1
                report.chunks += chunks
                report.bytes += nbytes
                if bar is not None:
                    bar.update(1)
        finally:
            if own:
                pool.shutdown(wait=True)
            if bar is not None:
                bar.close()
        return report

    def _consolidate_one(self, container: str, entries: list[tuple[str, str]]) -> tuple[int, int]:
        """Rebuild one container with its loose chunks folded in; returns (loose chunks moved, bytes)."""
        cpath = self.root / container
        with self._locks.hold(container):
            for stale in cpath.parent.glob(f"{TMP_PREFIX}{cpath.name}.*"):
                stale.unlink(missing_ok=True)
            loose = {member: key for key, member in entries if (self.root / key).is_file()}
            if not loose and not entries and not cpath.exists():
                return 0, 0
            sizes = self._replace_container(cpath, self._container_items(cpath, loose))
            for key in loose.values():
                self._unlink_loose(key)
        return len(loose), sum(sizes)

    def _replace_container(self, cpath: Path, items: list[tuple[str, ItemSource]]) -> list[int]:
        """Build a container from ``items`` in a temporary file, flush it and rename it over ``cpath``
        (caller holds its lock): a kill at any moment leaves the old or the new container."""
        cpath.parent.mkdir(parents=True, exist_ok=True)
        sizes: list[int] = []
        tmp = tmp_path_for(cpath)
        try:
            self._c_build(tmp, _counting(items, sizes))
            os.replace(tmp, cpath)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(cpath.parent)
        return sizes

    def _container_items(self, cpath: Path, loose: dict[str, str]) -> list[tuple[str, ItemSource]]:
        existing = [m for m in self._c_members(cpath) if m not in loose] if cpath.exists() else []
        items: list[tuple[str, ItemSource]] = [(m, _member_source(self, cpath, m)) for m in existing]
        items += [(m, _file_source(self.root / key)) for m, key in loose.items()]
        return sorted(items)

    def verify(self, progress: Progress = False, open_array: ArrayOpener | None = None) -> VerifyReport:
        """Check that every container opens and every stored chunk of every array decodes, decoding with
        ``open_array(store, path)`` (default: the safe opener nwbzarr's format layer registers)."""
        self._ensure_open_sync()
        return verify_store(self, open_array or registered_array_opener(), progress)

    # ---------------------------------------------------------------- inspection (for verify)
    def container_files(self) -> list[str]:
        """Paths (relative to the root) of every container file, as found on disk now."""
        self._router.invalidate()
        return [rel for rel in self._iter_files("") if self._router.container_lead(rel) is not None]

    def iter_container(self, rel: str) -> Iterator[tuple[str, bytes | None]]:
        """Every ``(member, bytes or None if unreadable)`` of the container at ``rel``, under its shared lock."""
        path = self.root / rel
        with self._locks.hold(rel, shared=True):
            for member in self._c_members(path):
                yield member, self._c_read(path, member, None)

    def array_layouts(self) -> list[ArrayLayout]:
        """Every array of the store with how its chunk keys are spelled, sorted by path."""
        layouts = {}
        for rel in self._iter_files(""):
            parent, _, name = rel.rpartition("/")
            if name in ("zarr.json", ".zarray"):
                node = self._router.owner(parent)
                if node is not None and node.path == parent:
                    layouts[parent] = node
        return [layouts[p] for p in sorted(layouts)]


def _counting(items: Iterable[tuple[str, ItemSource]], sizes: list[int]) -> Iterator[tuple[str, ItemSource]]:
    for name, source in items:

        def counted(source: ItemSource = source) -> bytes:
            data = source()
            sizes.append(len(data))
            return data

        yield name, counted


def _member_source(store: ContainerStore, cpath: Path, member: str) -> ItemSource:
    def load() -> bytes:
        data = store._c_read(cpath, member, None)
        if data is None:
            raise OSError(f"member {member!r} vanished from {cpath} while its lock was held")
        return data

    return load


def _file_source(path: Path) -> ItemSource:
    return path.read_bytes


def _progress_bar(total: int, label: str, progress: Progress) -> Any:
    """A bar of containers (``storage.progress``'s policy: True, False, None for "when stderr is a tty")."""
    if progress is not None and not progress:
        return None
    return progress_bar(progress, label, unit="container", total=total)
