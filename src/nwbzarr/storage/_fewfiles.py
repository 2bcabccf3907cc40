"""Shared machinery of the few-files stores: a directory store whose chunks may live in container files.

Metadata and other non-chunk keys are plain files (atomic temp + rename). A chunk is either a loose file
at its key's path (always the newest copy) or a member of a container file chosen by ``_routing.Router``.
Subclasses supply the container format (HDF5, zip) through the ``_c_*`` hooks.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Self

from zarr.abc.buffer import Buffer, BufferPrototype
from zarr.abc.store import ByteRequest, Store
from zarr.buffer import default_buffer_prototype

from nwbzarr.storage._deletes import DeleteBatches, Pending
from nwbzarr.storage._files import (
    fsync_dir,
    prune_empty_dirs,
    read_file,
    tmp_path_for,
    write_file,
)
from nwbzarr.storage._routing import (
    LOCK_FILE_NAME,
    METADATA_NAMES,
    TMP_PREFIX,
    ContainerLocks,
    LockSpec,
    Route,
    Router,
    check_key,
    is_hidden_name,
    lock_token,
    validate_lock,
)

ItemSource = Callable[[], bytes]


@dataclass
class ConsolidateReport:
    """What ``consolidate()`` / ``repack()`` did."""

    containers: int = 0
    chunks: int = 0
    bytes: int = 0


@dataclass
class VerifyReport:
    """What ``verify()`` checked and every problem found (empty ``problems`` means all good)."""

    containers: int = 0
    chunks: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


SET_BATCH_MIN = 64  # keys worth a thread call of their own in _set_many


def split_evenly(items: list, threads: int, least: int) -> list[list]:
    """``items`` cut into at most ``threads`` contiguous runs of at least ``least`` items (one run if fewer)."""
    runs = max(1, min(threads, len(items) // least))
    size = max(1, -(-len(items) // runs))
    return [items[i:i + size] for i in range(0, len(items), size)]


class ContainerStore(Store):
    """Directory store whose chunk keys may be stored in per-index-group container files."""

    supports_writes: bool = True
    supports_deletes: bool = True
    supports_listing: bool = True
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

    # ---------------------------------------------------------------- identity
    def _config(self) -> dict[str, Any]:
        return {"root": self.root, "depth": self.depth, "write_direct": self.write_direct, "lock": self.lock}

    def with_read_only(self, read_only: bool = False) -> Self:
        """A new, unopened store on the same root with the given read-only setting."""
        return type(self)(**self._config(), read_only=read_only)

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

    async def _open(self) -> None:
        self._ensure_root()
        await super()._open()

    def _ensure_root(self) -> None:
        if not self.read_only:
            self.root.mkdir(parents=True, exist_ok=True)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root} does not exist or is not a directory")

    def _ensure_open_sync(self) -> None:
        if not self._is_open:
            self._ensure_root()
            self._is_open = True

    async def _ensure_open_async(self) -> None:
        if not self._is_open:
            await self._open()

    # ---------------------------------------------------------------- container hooks
    def _c_read(self, path: Path, member: str, byte_range: ByteRequest | None) -> bytes | None:
        """Bytes of ``member`` (or part of it); None if the container or member does not exist."""
        raise NotImplementedError

    def _c_members(self, path: Path) -> list[str]:
        """Member names of a container (empty if it does not exist)."""
        raise NotImplementedError

    def _c_update(self, path: Path, puts: dict[str, Any], deletes: Iterable[str]) -> None:
        """Write and delete members of one container; the caller holds its lock."""
        raise NotImplementedError

    def _c_build(self, path: Path, items: Iterable[tuple[str, ItemSource]]) -> None:
        """Write a complete new container at ``path`` from (member, source) pairs, flushed to disk."""
        raise NotImplementedError

    def _c_size(self, path: Path, member: str) -> int | None:
        data = self._c_read(path, member, None)
        return None if data is None else len(data)

    def _c_in_place_ok(self, path: Path) -> bool:
        """Whether ``_c_update`` may change this existing container in place without risking what it
        already holds if the writer is killed (default: yes, for formats whose updates are atomic)."""
        return True

    # ---------------------------------------------------------------- blocking core
    def _route(self, key: str) -> Route | None:
        check_key(key)
        return self._router.route(key)

    def _get_blocking(self, key: str, byte_range: ByteRequest | None) -> bytes | None:
        """A plain file at the key's path wins (documents, and loose chunks, which are always the newest
        copy) and needs no routing; otherwise the chunk's container, if the key routes to one."""
        check_key(key)
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

    def _exists_blocking(self, key: str) -> bool:
        route = self._route(key)
        if (self.root / key).is_file():
            return route is not None or self._router.container_lead(key) is None
        if route is None or not (self.root / route.container).exists():
            return False
        with self._locks.hold(route.container, shared=True):
            return self._exists_locked(route)

    def _delete_blocking(self, key: str) -> None:
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
            self._delete_dir_blocking(key)
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

    def _size_blocking(self, key: str) -> int:
        route = self._route(key)
        try:
            return (self.root / key).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            pass
        size = None
        if route is not None and (self.root / route.container).exists():
            with self._locks.hold(route.container, shared=True):
                size = self._c_size(self.root / route.container, route.member)
        if size is None:
            raise FileNotFoundError(key)
        return size

    # ---------------------------------------------------------------- listing
    def _walk_start(self, prefix: str) -> str:
        """Directory to walk for keys starting with ``prefix``: containers of an array sit at its top."""
        directory = prefix[:-1] if prefix.endswith("/") else prefix.rpartition("/")[0]
        owner = self._router.owner(directory)
        return owner.path if owner is not None else directory

    def _iter_files(self, start: str) -> Iterator[str]:
        base = self.root / start if start else self.root
        for dirpath, _dirs, files in os.walk(base):
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

    def _list_blocking(self, prefix: str) -> list[str]:
        self._router.invalidate()
        out: set[str] = set()
        for rel in self._iter_files(self._walk_start(prefix)):
            keys = self._container_keys(rel)
            for key in [rel] if keys is None else keys:
                if key.startswith(prefix):
                    out.add(key)
        return sorted(out)

    def _list_dir_blocking(self, prefix: str) -> list[str]:
        head = prefix.rstrip("/")
        head = head + "/" if head else ""
        return sorted({k[len(head) :].split("/", 1)[0] for k in self._list_blocking(head)})

    def _delete_dir_blocking(self, prefix: str) -> None:
        self._check_writable()
        p = prefix.strip("/")
        if p == "":
            self._clear_blocking()
            return
        keys = self._list_blocking(p + "/")
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
                if entry.name == LOCK_FILE_NAME:
                    continue  # other processes may hold locks on it
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        self._router.invalidate()

    # ---------------------------------------------------------------- async Store API
    async def get(
        self, key: str, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        # docstring inherited
        prototype = prototype or default_buffer_prototype()
        await self._ensure_open_async()
        data = await asyncio.to_thread(self._get_blocking, key, byte_range)
        return None if data is None else prototype.buffer.from_bytes(data)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        # docstring inherited
        return list(await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges)))

    async def exists(self, key: str) -> bool:
        # docstring inherited
        await self._ensure_open_async()
        return await asyncio.to_thread(self._exists_blocking, key)

    async def set(self, key: str, value: Buffer) -> None:
        # docstring inherited
        await self._set(key, value, exclusive=False)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        # docstring inherited
        await self._set(key, value, exclusive=True)

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        """Many keys in one thread call per core rather than one hop per key (more threads than cores
        only contend: measured 1.4-1.6x slower on a metadata-heavy NWB file)."""
        await self._ensure_open_async()
        self._check_writable()
        items = []
        for key, value in values:
            if not isinstance(value, Buffer):
                raise TypeError(f"{type(self).__name__}.set(): `value` must be a Buffer instance, got {type(value)}.")
            items.append((key, value.as_buffer_like()))
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

    async def _set(self, key: str, value: Buffer, exclusive: bool) -> None:
        await self._ensure_open_async()
        self._check_writable()
        if not isinstance(value, Buffer):
            raise TypeError(f"{type(self).__name__}.set(): `value` must be a Buffer instance, got {type(value)}.")
        await asyncio.to_thread(self._set_blocking, key, value.as_buffer_like(), exclusive)

    async def delete(self, key: str) -> None:
        # docstring inherited
        await self._ensure_open_async()
        self._check_writable()
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

    async def delete_dir(self, prefix: str) -> None:
        # docstring inherited
        await self._ensure_open_async()
        self._check_writable()
        await asyncio.to_thread(self._delete_dir_blocking, prefix)

    async def clear(self) -> None:
        # docstring inherited
        await self._ensure_open_async()
        self._check_writable()
        await asyncio.to_thread(self._clear_blocking)

    async def getsize(self, key: str) -> int:
        # docstring inherited
        await self._ensure_open_async()
        return await asyncio.to_thread(self._size_blocking, key)

    async def list(self) -> AsyncIterator[str]:
        # docstring inherited
        for key in await asyncio.to_thread(self._list_blocking, ""):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        for key in await asyncio.to_thread(self._list_blocking, prefix):
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        for key in await asyncio.to_thread(self._list_dir_blocking, prefix):
            yield key

    # ---------------------------------------------------------------- sync Store API
    def get_sync(
        self, key: str, *, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        """Blocking ``get`` for callers outside an event loop."""
        self._ensure_open_sync()
        data = self._get_blocking(key, byte_range)
        return None if data is None else (prototype or default_buffer_prototype()).buffer.from_bytes(data)

    def _blocking_read(self, key: str) -> bytes | None:
        """A whole value, read in the calling thread (any thread: containers are locked per access);
        ``storage.batch.sync_reader`` hands this to small reads so they skip zarr's event loop."""
        self._ensure_open_sync()
        return self._get_blocking(key, None)

    def set_sync(self, key: str, value: Buffer) -> None:
        """Blocking ``set`` for callers outside an event loop."""
        self._ensure_open_sync()
        self._check_writable()
        if not isinstance(value, Buffer):
            raise TypeError(f"{type(self).__name__}.set(): `value` must be a Buffer instance, got {type(value)}.")
        self._set_blocking(key, value.as_buffer_like())

    def delete_sync(self, key: str) -> None:
        """Blocking ``delete`` for callers outside an event loop."""
        self._ensure_open_sync()
        self._check_writable()
        self._delete_blocking(key)

    # ---------------------------------------------------------------- maintenance
    def consolidate(
        self, parallel: int = 1, executor: Executor | None = None, progress: bool = False
    ) -> ConsolidateReport:
        """Move loose chunk files into their containers in place; safe to kill at any moment.

        Each container is rebuilt in a temporary file, flushed, renamed into place, and only then are its
        loose chunks deleted. ``parallel`` threads (or ``executor``) work on distinct containers.
        Extra disk while it runs: one container being built per worker (its old members plus its loose
        chunks), since the loose copies may only go once the new container is durable. A smaller
        ``depth`` (fewer chunks per container) lowers that bound; it cannot shrink to one chunk per
        worker without giving up kill-safety.
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

    def repack(self, parallel: int = 1, executor: Executor | None = None, progress: bool = False) -> ConsolidateReport:
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
        progress: bool,
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

    def verify(self, progress: bool = False) -> VerifyReport:
        """Check that every container opens and every stored chunk of every array decodes."""
        from nwbzarr.storage._verify import verify_store

        self._ensure_open_sync()
        return verify_store(self, progress)


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


def _progress_bar(total: int, label: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="container")
