"""The process-pool runner: block tasks written by worker processes, on any store that can be pickled.

Workers receive the targets once (at start-up) with the *store object* pickled (a fresh, unopened copy
with the same configuration and storage options), never a path; each task names a target and a block.
Workers exit when the writing process dies, even by SIGKILL (``writing/parent_watch.py``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from zarr.abc.store import Store

from ..errors import ParallelWriteError
from ..storage.capabilities import fork_safe
from ..storage.remote import request_limit
from .documents import INCOMPLETE_ATTR
from .jobs import (
    BlockWriteFailure,
    Selection,
    Task,
    WriteTarget,
    block_selections,
    describe_selection,
    write_unit,
)
from .runners import OnDone, Placement

TASKS_PER_WORKER = 4
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")

__all__ = ["ProcessPoolRunner", "pool_context", "resolve_context", "worker_count"]


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


def worker_count(number_of_jobs: int) -> int:
    return (os.cpu_count() or 1) if number_of_jobs == -1 else number_of_jobs


def codec_threads_per_worker(workers: int, max_threads: int | None) -> int:
    """Encoding threads of each worker: ``max_threads_per_process`` when given, else the worker's share of
    the cores (more threads than cores only add switching)."""
    return max_threads or max(1, (os.cpu_count() or 1) // max(1, workers))


class ProcessPoolRunner:
    """Runs block tasks on ``jobs`` worker processes started with ``context``; ``max_threads``: thread
    limit of each worker's numerical libraries and codec pool."""

    def __init__(self, context: Any, jobs: int, max_threads: int | None = None) -> None:
        self.context, self.jobs, self.max_threads = context, jobs, max_threads

    @property
    def placement(self) -> Placement:
        """Blocks of about the iterator's buffer, at least ``TASKS_PER_WORKER`` per worker; the iterators
        pickled unless workers are forked (they inherit them)."""
        wanted = TASKS_PER_WORKER * self.jobs

        def blocks(spec: Any, shape: tuple[int, ...], buffer_shape: tuple[int, ...]) -> list[Selection]:
            return block_selections(shape, write_unit(spec), buffer_shape, wanted)

        return Placement(where=f"with {self.jobs} processes", blocks=blocks,
                         pickle_iterators=self.context.get_start_method() != "fork")

    def run(self, targets: Sequence[WriteTarget], tasks: Sequence[Task], on_done: OnDone) -> None:
        workers = max(1, min(self.jobs, len(tasks)))
        owner = os.getpid() if self.context.get_start_method() in ("fork", "spawn") else None  # workers' parent
        threads = codec_threads_per_worker(workers, self.max_threads)
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=self.context, initializer=_init_worker,
                                       initargs=(list(targets), self.max_threads, threads, owner,
                                                 request_limit()))
        futures: dict[Future, Task] = {}
        try:
            futures = {executor.submit(_write_block, i, sel): (i, sel) for i, sel in tasks}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    task = futures[future]
                    on_done(task, _result(future, task, targets))
        finally:
            executor.shutdown(wait=True, cancel_futures=True)


def _result(future: Future, task: Task, targets: Sequence[WriteTarget]) -> int:
    index, selection = task
    try:
        _, nbytes = future.result()
    except BlockWriteFailure as exc:
        raise ParallelWriteError(str(exc)) from None
    except BrokenProcessPool as exc:
        raise ParallelWriteError(
            f"a worker process died while writing dataset /{targets[index].path} (block "
            f"{describe_selection(selection)} or another in flight); the dataset is left marked "
            f"{INCOMPLETE_ATTR}: {exc}"
        ) from exc
    return nbytes


# --- in the worker processes -----------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(targets: list[WriteTarget], max_threads: int | None, codec_threads: int,
                 owner: int | None = None, requests: int | None = None) -> None:
    """Per-process set-up: exit when the parent dies, thread limits, the codec pool's share of the cores,
    the parent's remote request limit (a spawned worker would start from zarr's default), the targets
    (stores reopened from their pickles)."""
    import zarr

    from .parent_watch import exit_with_parent
    from .pool import set_codec_threads

    exit_with_parent(owner)
    set_codec_threads(codec_threads)
    if requests is not None:
        zarr.config.set({"async.concurrency": requests})
    if max_threads is not None:
        for var in THREAD_ENV_VARS:  # libraries loaded later (numpy loads BLAS lazily)
            os.environ[var] = str(max_threads)
        from threadpoolctl import threadpool_limits

        _WORKER["limits"] = threadpool_limits(limits=max_threads)  # libraries already loaded
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


def _write_block(index: int, selection: Selection) -> tuple[int, int]:
    return index, _WORKER["targets"][index].write(selection)
