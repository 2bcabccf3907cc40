"""Parallel writes of data chunk iterators with a pool of processes, on any store that can be pickled.

What qualifies: ``hdmf.data_utils.GenericDataChunkIterator`` and its subclasses (their data are read by
selection through ``_get_data``). With the ``fork`` start method the iterator is inherited; with ``spawn``
or ``forkserver`` it must pickle (``_to_dict``/``_from_dict``); one that does not is written serially,
with a warning. Every other iterator is written serially.

How: each iterator's buffers are cut into blocks aligned to the array's write unit (its shards when
sharded, else its chunks), so no two workers ever write the same chunk or shard. Workers receive the
*store object* pickled (a fresh, unopened copy with the same configuration and storage options), never
a path. The dataset carries ``nwbzarr_incomplete: true`` while it is written; the attribute is removed
only when every block is written, so a failed write stays visibly incomplete (``nwbzarr info``).
Stores that only live in one process (``MemoryStore``, a DBM file, ...) are written serially. Workers
exit when the writing process dies, even by SIGKILL (``backend/parent_watch.py``).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing as mp
import os
import pickle
import traceback
import warnings
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.abc.store import Store

from .backend.write import WriteError
from .format.base import ArraySpec, encode_json, to_buffer
from .storage.capabilities import fork_safe, multiprocess_safe

if TYPE_CHECKING:
    from .backend.io import ZarrIO
    from .backend.queue import ZarrIODataChunkIteratorQueue, _IteratorWriter

INCOMPLETE_ATTR = "nwbzarr_incomplete"
TASKS_PER_WORKER = 4
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")

__all__ = [
    "INCOMPLETE_ATTR",
    "ParallelWriteError",
    "WriteTarget",
    "block_selections",
    "multiprocess_safe",
    "write_iterators_in_parallel",
]


class ParallelWriteError(WriteError):
    """A block of a dataset could not be written by a worker; names the dataset, carries the traceback."""


class BlockWriteFailure(Exception):
    """Raised inside a worker: the dataset, the block and the worker's formatted traceback."""

    def __init__(self, path: str, selection: str, pid: int, worker_traceback: str) -> None:
        super().__init__(path, selection, pid, worker_traceback)
        self.path = path
        self.selection = selection
        self.pid = pid
        self.worker_traceback = worker_traceback

    def __str__(self) -> str:
        return (f"writing block {self.selection} of dataset /{self.path} failed in worker process {self.pid}:\n"
                f"--- worker traceback ---\n{self.worker_traceback.rstrip()}\n--- end of worker traceback ---")


def pool_context(requested: Any, store: Store) -> Any:
    """The context to start workers with: ``spawn`` instead of the default ``fork`` for stores that
    cannot be forked; an explicit ``fork`` for such a store is an error."""
    context = resolve_context(requested)
    if context.get_start_method() != "fork" or fork_safe(store):
        return context
    if requested is None:
        return mp.get_context("spawn")
    raise ValueError(f"{type(store).__name__} cannot be used by forked worker processes; pass "
                     "multiprocessing_context='spawn' (or 'forkserver')")


# --- blocks --------------------------------------------------------------------------------------
def write_unit(spec: ArraySpec) -> tuple[int, ...]:
    """The region one writer must own: a shard when the array is sharded, else a chunk."""
    unit = spec.shards or spec.chunks or spec.shape
    return tuple(max(1, int(u)) for u in unit)


def block_selections(shape: tuple[int, ...], unit: tuple[int, ...], buffer_shape: tuple[int, ...],
                     min_blocks: int = 1) -> list[tuple[slice, ...]]:
    """Blocks of about ``buffer_shape`` covering ``shape``, each a whole number of units (clipped at the
    edges), split along the first splittable axis until there are at least ``min_blocks``."""
    if len(unit) != len(shape) or len(buffer_shape) != len(shape):
        raise ValueError(f"shape {shape}, write unit {unit} and buffer shape {buffer_shape} differ in rank")
    if any(s == 0 for s in shape):
        return []
    block = [min(s, math.ceil(max(1, b) / u) * u) for s, u, b in zip(shape, unit, buffer_shape)]
    while _count(shape, block) < min_blocks:
        axis = next((d for d in range(len(shape)) if math.ceil(block[d] / unit[d]) > 1), None)
        if axis is None:
            break
        block[axis] = math.ceil(math.ceil(block[axis] / unit[axis]) / 2) * unit[axis]
    return list(_blocks(shape, block))


def _count(shape: tuple[int, ...], block: list[int]) -> int:
    return math.prod(math.ceil(s / b) for s, b in zip(shape, block))


def _blocks(shape: tuple[int, ...], block: list[int]) -> Iterator[tuple[slice, ...]]:
    for index in np.ndindex(*(math.ceil(s / b) for s, b in zip(shape, block))):
        yield tuple(slice(i * b, min(s, (i + 1) * b)) for i, b, s in zip(index, block, shape))


# --- what a worker needs to write one array -------------------------------------------------------
@dataclass
class WriteTarget:
    """One array as workers see it: the store (or its pickle), layout, documents, spec and iterator."""

    store: Any
    layout: Any
    path: str
    documents: dict[str, dict]
    spec: ArraySpec
    dci: Any
    _cache: dict = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def _resolved(self, name: str) -> Any:
        if name not in self._cache:
            value = getattr(self, name)
            self._cache[name] = pickle.loads(value) if isinstance(value, bytes) else value
        return self._cache[name]

    def array(self) -> Any:
        if "array" not in self._cache:
            store = self._resolved("store")
            self._cache["array"] = self.layout.open_array_for_write(store, self.path, self.documents)
        return self._cache["array"]

    def close(self) -> None:
        store = self._cache.get("store")
        if store is not None:
            store.close()

    def write(self, selection: tuple[slice, ...]) -> int:
        """Read one block from the iterator and write it; returns its logical size in bytes."""
        try:
            data = self._resolved("dci")._get_data(selection)
            values = self._values(data, selection)
            from ._private_api import sync
            from .backend.blocks import write_block

            sync(write_block(self.array(), selection, values))
            return int(values.size * (values.dtype.itemsize if values.dtype.kind != "O" else 8))
        except Exception:
            raise BlockWriteFailure(self.path, _describe(selection), os.getpid(), traceback.format_exc()) from None

    def _values(self, data: Any, selection: tuple[slice, ...]) -> np.ndarray:
        expected = tuple(s.stop - s.start for s in selection)
        if self.spec.kind == "numeric":
            values = np.asarray(data, dtype=self.spec.dtype)
        else:
            values = np.asarray(self.layout.encode_array_values(self.spec, data))
        if values.shape != expected:
            raise ValueError(f"the iterator's _get_data({_describe(selection)}) returned shape {values.shape}, "
                             f"expected {expected}")
        return values


def _describe(selection: tuple[slice, ...]) -> str:
    return "[" + ", ".join(f"{s.start}:{s.stop}" for s in selection) + "]"


# --- marking a dataset incomplete ------------------------------------------------------------------
def set_incomplete(documents: dict[str, dict], incomplete: bool) -> None:
    """Add or remove the ``nwbzarr_incomplete`` attribute in an array's documents (either layout)."""
    for key, doc in documents.items():
        name = key.rsplit("/", 1)[-1]
        if name == "zarr.json":
            attrs = doc.setdefault("attributes", {})
        elif name == ".zattrs":
            attrs = doc
        else:
            continue
        if incomplete:
            attrs[INCOMPLETE_ATTR] = True
        else:
            attrs.pop(INCOMPLETE_ATTR, None)


async def put_documents(store: Store, documents: dict[str, dict]) -> None:
    await asyncio.gather(*(store.set(k, to_buffer(encode_json(d))) for k, d in documents.items()))


def prepare(io: ZarrIO, writer: _IteratorWriter) -> tuple[int, ...]:
    """Size the array to the iterator's full shape and write its documents marked incomplete."""
    shape = tuple(int(s) for s in writer.dci.maxshape)
    io.layout.resize_documents(writer.job.path, writer.job.documents, shape)
    set_incomplete(writer.job.documents, True)
    io._run(put_documents(io.store, writer.job.documents))
    return shape


def complete(writer: _IteratorWriter, shape: tuple[int, ...]) -> None:
    """Record the written extent and drop the marker (``finish()`` writes the documents)."""
    writer.extent = list(shape)
    writer.shape = list(shape)
    set_incomplete(writer.job.documents, False)


def pickled_iterator(dci: Any) -> bytes:
    """The iterator pickled for a worker, with its own progress bar turned off (the parent shows one)."""
    reduced = dci.__reduce__() if type(dci).__reduce__ is not object.__reduce__ else None
    if reduced and len(reduced) == 2 and len(reduced[1]) == 1 and isinstance(reduced[1][0], dict) \
            and reduced[1][0].get("display_progress"):
        return pickle.dumps((_rebuild, (reduced[0], {**reduced[1][0], "display_progress": False})))
    return pickle.dumps(dci)


def _rebuild(constructor: Any, kwargs: dict) -> Any:
    return constructor(kwargs)


def logical_bytes(spec: ArraySpec, shape: tuple[int, ...]) -> int:
    itemsize = spec.dtype.itemsize if spec.dtype is not None and spec.dtype.kind != "O" else 8
    return int(math.prod(shape)) * itemsize


def progress_bar(writer: _IteratorWriter, shape: tuple[int, ...]) -> Any:
    """A tqdm bar in bytes when the iterator asks for progress (its own per-buffer bar is closed)."""
    dci = writer.dci
    if not getattr(dci, "display_progress", False):
        return None
    own = getattr(dci, "progress_bar", None)
    if own is not None:
        own.close()
    from tqdm import tqdm

    options = {k: v for k, v in (getattr(dci, "progress_bar_options", None) or {}).items() if k != "total"}
    options.setdefault("desc", f"/{writer.job.path}")
    return tqdm(total=logical_bytes(writer.job.spec, shape), unit="B", unit_scale=True, unit_divisor=1024,
                **options)


def codec_threads_per_worker(workers: int, max_threads: int | None) -> int:
    """Encoding threads of each worker: ``max_threads_per_process`` when given, else the worker's share of
    the cores (more threads than cores only add switching)."""
    return max_threads or max(1, (os.cpu_count() or 1) // max(1, workers))


def worker_count(number_of_jobs: int) -> int:
    return (os.cpu_count() or 1) if number_of_jobs == -1 else number_of_jobs


# --- the process pool ----------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(targets: list[WriteTarget], max_threads: int | None, codec_threads: int,
                 owner: int | None = None) -> None:
    """Per-process set-up: exit when the parent dies, thread limits, the codec pool's share of the cores,
    the targets (stores reopened from their pickles)."""
    from .backend.parent_watch import exit_with_parent
    from .backend.pool import set_codec_threads

    exit_with_parent(owner)
    set_codec_threads(codec_threads)
    if max_threads is not None:
        for var in THREAD_ENV_VARS:  # libraries loaded later (numpy loads BLAS lazily)
            os.environ[var] = str(max_threads)
        from threadpoolctl import threadpool_limits

        _WORKER["limits"] = threadpool_limits(limits=max_threads)  # libraries already loaded
        import zarr

        zarr.config.set({"threading.max_workers": max_threads})
    _WORKER["targets"] = targets
    from multiprocessing.util import Finalize

    Finalize(None, _close_targets, exitpriority=10)


def _close_targets() -> None:
    for target in _WORKER.get("targets", []):
        try:
            target.close()
        except Exception:  # pragma: no cover - closing is best effort
            pass


def _run_block(index: int, selection: tuple[slice, ...]) -> tuple[int, int]:
    return index, _WORKER["targets"][index].write(selection)


def resolve_context(context: Any) -> Any:
    """A multiprocessing context from None (the platform default), a start-method name or a context."""
    if context is None or isinstance(context, str):
        try:
            return mp.get_context(context)
        except ValueError as exc:
            raise ValueError(f"multiprocessing_context {context!r} is not a start method here: "
                             f"use one of {mp.get_all_start_methods()}") from exc
    if not hasattr(context, "get_start_method"):
        raise TypeError(f"multiprocessing_context must be None, a start-method name or a multiprocessing "
                        f"context, not {type(context).__name__}")
    return context


def split_writers(io: ZarrIO, writers: list[_IteratorWriter], pickle_iterators: bool,
                  how: str) -> tuple[list[tuple[_IteratorWriter, Any]], list[_IteratorWriter]]:
    """(writer, iterator or its pickle) pairs that can go to workers, and writers to write serially."""
    if not multiprocess_safe(io.store):
        warnings.warn(f"{type(io.store).__name__} cannot be written by several processes; writing "
                      f"{len(writers)} iterator(s) serially instead of {how}", stacklevel=4)
        return [], list(writers)
    ready, serial = [], []
    for writer in writers:
        if not pickle_iterators:
            ready.append((writer, writer.dci))
            continue
        try:
            ready.append((writer, pickled_iterator(writer.dci)))
        except Exception as exc:
            warnings.warn(f"the iterator of /{writer.job.path} ({type(writer.dci).__name__}) cannot be pickled "
                          f"({exc}); writing it serially", stacklevel=4)
            serial.append(writer)
    return ready, serial


def write_serially(io: ZarrIO, writers: list[_IteratorWriter]) -> None:
    """Iterators that cannot go to workers: written in this process (see ``backend.blockwise``)."""
    from .backend.blockwise import write_round_robin

    write_round_robin(io, writers)


def plan_blocks(io: ZarrIO, ready: list, blocks_wanted: int) -> tuple[list[WriteTarget], list, list, list]:
    """(write targets, (target index, selection) tasks, progress bars, shapes) for writers ready to go out."""
    store_pickle = pickle.dumps(io.store)
    targets, tasks, shapes = [], [], []
    for index, (writer, dci) in enumerate(ready):
        shape = prepare(io, writer)
        shapes.append(shape)
        targets.append(WriteTarget(store_pickle, io.layout, writer.job.path, writer.job.documents,
                                   writer.job.spec, dci))
        buffer_shape = tuple(getattr(writer.dci, "buffer_shape", shape))
        for selection in block_selections(shape, write_unit(writer.job.spec), buffer_shape, blocks_wanted):
            tasks.append((index, selection))
    bars = [progress_bar(w, s) for (w, _), s in zip(ready, shapes)]
    return targets, tasks, bars, shapes


def write_iterators_in_parallel(io: ZarrIO, writers: list[_IteratorWriter],
                                queue: ZarrIODataChunkIteratorQueue) -> None:
    """Write iterators with ``queue.number_of_jobs`` processes; ``finish()`` is left to the queue."""
    context = pool_context(queue.multiprocessing_context, io.store)
    fork = context.get_start_method() == "fork"
    jobs = worker_count(queue.number_of_jobs)
    ready, serial = split_writers(io, writers, not fork, f"with {jobs} processes")
    write_serially(io, serial)
    if not ready:
        return
    targets, tasks, bars, shapes = plan_blocks(io, ready, TASKS_PER_WORKER * jobs)
    try:
        _run_pool(context, jobs, targets, tasks, bars, queue.max_threads_per_process)
    finally:
        for bar in bars:
            if bar is not None:
                bar.close()
    for (writer, _), shape in zip(ready, shapes):
        complete(writer, shape)


def _run_pool(context: Any, jobs: int, targets: list[WriteTarget], tasks: list[tuple[int, tuple]],
              bars: list[Any], max_threads: int | None) -> None:
    workers = max(1, min(jobs, len(tasks)))
    owner = os.getpid() if context.get_start_method() in ("fork", "spawn") else None  # the workers' parent
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                                   initargs=(targets, max_threads, codec_threads_per_worker(workers, max_threads),
                                             owner))
    futures: dict[Future, tuple[int, tuple]] = {}
    try:
        futures = {executor.submit(_run_block, i, sel): (i, sel) for i, sel in tasks}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                _collect(future, futures[future], targets, bars)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _collect(future: Future, task: tuple[int, tuple], targets: list[WriteTarget], bars: list[Any]) -> None:
    index, selection = task
    try:
        _, nbytes = future.result()
    except BlockWriteFailure as exc:
        raise ParallelWriteError(str(exc)) from None
    except BrokenProcessPool as exc:
        raise ParallelWriteError(
            f"a worker process died while writing dataset /{targets[index].path} (block "
            f"{_describe(selection)} or another in flight); the dataset is left marked {INCOMPLETE_ATTR}: {exc}"
        ) from exc
    if bars[index] is not None:
        bars[index].update(nbytes)
