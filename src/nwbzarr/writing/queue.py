"""``ZarrIODataChunkIteratorQueue``: datasets written from data chunk iterators after the rest of a write.

Written once for every runner: split (which iterators a runner takes, which stay in this process) ->
plan (each array prepared, cut into blocks) -> ``runner.run`` -> complete. Iterators that stay here
are written by the in-process runner, round-robin (``writing.serial``).
"""

from __future__ import annotations

import pickle
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from hdmf.data_utils import AbstractDataChunkIterator

from ..storage.capabilities import multiprocess_safe
from ..storage.progress import advance, grow
from .iterators import ArrayJobLike, IteratorWriter
from .jobs import Task, WriteTarget, logical_bytes, pickled_iterator, selection_shape
from .runners import Placement, Runner
from .serial import SerialRunner, serial_placement
from .session import WriteSession

__all__ = ["ZarrIODataChunkIteratorQueue", "write_by_block", "write_iterators"]


class ZarrIODataChunkIteratorQueue(deque):
    """A deque of ``(dataset, iterator)`` pairs, exhausted after the rest of a write.

    ``number_of_jobs``, ``max_threads_per_process`` and ``multiprocessing_context`` configure parallel
    writes of picklable iterators by a process pool (``writing.process_pool``); ``scheduler``, a
    ``dask.distributed`` Client, writes them on its workers (``writing.dask_runner``). With one job every
    iterator is written in this process, round-robin: ``GenericDataChunkIterator``s a block at a time,
    reading the next block ahead (``writing.serial``), the others a chunk at a time as they arrive.
    """

    def __init__(self, number_of_jobs: int = 1, max_threads_per_process: int | None = None,
                 multiprocessing_context: Any = None, scheduler: Any = None) -> None:
        super().__init__()
        if number_of_jobs < 1 and number_of_jobs != -1:
            raise ValueError(f"number_of_jobs must be >= 1 (or -1 for all cores), not {number_of_jobs}")
        self.number_of_jobs = number_of_jobs
        self.max_threads_per_process = max_threads_per_process
        self.multiprocessing_context = multiprocessing_context
        self.scheduler = scheduler  # a dask.distributed Client: iterators are written on its workers

    def append(self, dataset: ArrayJobLike, data: AbstractDataChunkIterator) -> None:  # type: ignore[override]
        super().append((dataset, data))

    def exhaust_queue(self, io: Any = None) -> None:
        """Write every queued iterator to the end; datasets end with the shape of the data written.
        ``io``: a ``WriteSession``, or the ``ZarrIO`` writing (its ``write_session()``)."""
        if not self:
            return
        if io is None:
            raise TypeError("exhaust_queue(io) needs the ZarrIO (or WriteSession) writing the queued datasets")
        session = io if isinstance(io, WriteSession) else io.write_session()
        writers = []
        while self:
            job, dci = self.popleft()
            writers.append(IteratorWriter(session, job, dci))
        write_iterators(session, writers, self.runner_elsewhere)
        for writer in writers:
            writer.finish()

    def runner_elsewhere(self, session: WriteSession) -> tuple[Runner, Placement] | None:
        """The runner (and its placement) of iterators written by block outside this process, or None."""
        if self.scheduler is not None:
            from .dask_runner import DaskRunner

            dask = DaskRunner(self.scheduler)
            return dask, dask.placement
        if self.number_of_jobs == 1:
            return None
        from .process_pool import ProcessPoolRunner, pool_context, worker_count

        context = pool_context(self.multiprocessing_context, session.store)
        pool = ProcessPoolRunner(context, worker_count(self.number_of_jobs), self.max_threads_per_process)
        return pool, pool.placement


def write_iterators(session: WriteSession, writers: Sequence[IteratorWriter],
                    runner_for: Callable[[WriteSession], tuple[Runner, Placement] | None] | None = None) -> None:
    """Write iterators' data (not their final documents: ``IteratorWriter.finish``). ``runner_for(session)``
    gives the runner of block-wise iterators outside this process (or None), asked only when there are some."""
    by_block = [w for w in writers if w.by_block()]
    elsewhere = runner_for(session) if by_block and runner_for is not None else None
    local = list(writers)
    if elsewhere is not None:
        runner, placement = elsewhere
        ready = split(session, by_block, placement)
        sent = {id(writer) for writer, _ in ready}
        local = [w for w in writers if id(w) not in sent]
        if ready:
            write_by_block(session, ready, runner, placement)
    here = [w for w in local if w.by_block()]
    plain = [w for w in local if not w.by_block()]
    if here or plain:
        write_by_block(session, [(w, w.dci) for w in here], SerialRunner(session, plain), serial_placement())


def split(session: WriteSession, writers: list[IteratorWriter],
          placement: Placement) -> list[tuple[IteratorWriter, Any]]:
    """(writer, iterator or its pickle) pairs the runner can take; the other writers stay in this process."""
    if not multiprocess_safe(session.store):
        warnings.warn(f"{type(session.store).__name__} cannot be written by several processes; writing "
                      f"{len(writers)} iterator(s) serially instead of {placement.where}", stacklevel=4)
        return []
    ready = []
    for writer in writers:
        if not placement.pickle_iterators:
            ready.append((writer, writer.dci))
            continue
        try:
            ready.append((writer, pickled_iterator(writer.dci)))
        except Exception as exc:
            warnings.warn(f"the iterator of /{writer.path} ({type(writer.dci).__name__}) cannot be pickled "
                          f"({exc}); writing it serially", stacklevel=4)
    return ready


def write_by_block(session: WriteSession, ready: list[tuple[IteratorWriter, Any]], runner: Runner,
                   placement: Placement) -> None:
    """Plan (prepare each array, cut it into blocks), run the tasks, complete the arrays."""
    targets, tasks, shapes = plan(session, ready, placement)
    bars = [writer.progress_bar(shape) for (writer, _), shape in zip(ready, shapes)]
    grow(session.bar, sum(logical_bytes(w.job.spec, shape) for (w, _), shape in zip(ready, shapes)))

    def on_done(task: Task, nbytes: int) -> None:
        if bars[task[0]] is not None:
            bars[task[0]].update(nbytes)
        advance(session.bar, logical_bytes(ready[task[0]][0].job.spec, selection_shape(task[1])))

    try:
        runner.run(targets, tasks, on_done)
    finally:
        for bar in bars:
            if bar is not None:
                bar.close()
    for (writer, _), shape in zip(ready, shapes):
        writer.complete(shape)


def plan(session: WriteSession, ready: list[tuple[IteratorWriter, Any]],
         placement: Placement) -> tuple[list[WriteTarget], list[Task], list[tuple[int, ...]]]:
    """(targets, (target index, block) tasks, full shapes); each array's documents are stored marked
    incomplete first. The store goes to another process pickled."""
    store = pickle.dumps(session.store) if placement.remote else None
    targets, tasks, shapes = [], [], []
    for index, (writer, dci) in enumerate(ready):
        shape = writer.prepare()
        shapes.append(shape)
        targets.append(writer.target(store, dci))
        buffer_shape = tuple(getattr(writer.dci, "buffer_shape", shape))
        tasks.extend((index, selection) for selection in placement.blocks(writer.job.spec, shape, buffer_shape))
    return targets, tasks, shapes
