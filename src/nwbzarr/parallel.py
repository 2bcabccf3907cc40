"""Parallel writes of data chunk iterators with a pool of processes (names kept for existing imports).

The machinery lives in ``nwbzarr.writing``: ``writing.jobs`` (blocks aligned to the write unit, write
targets), ``writing.process_pool`` (the runner) and ``writing.queue`` (split -> plan -> run -> complete).
What qualifies: ``hdmf.data_utils.GenericDataChunkIterator`` and its subclasses; with the ``fork`` start
method the iterator is inherited, with ``spawn`` or ``forkserver`` it must pickle (one that does not is
written serially, with a warning). Stores that only live in one process are written serially. The
dataset carries ``nwbzarr_incomplete: true`` until every block is written.
"""

from __future__ import annotations

from typing import Any

from .errors import ParallelWriteError
from .storage.capabilities import fork_safe, multiprocess_safe
from .writing.documents import INCOMPLETE_ATTR, put_documents, set_incomplete
from .writing.iterators import IteratorWriter
from .writing.jobs import (
    BlockWriteFailure,
    WriteTarget,
    block_selections,
    logical_bytes,
    pickled_iterator,
    write_unit,
)
from .writing.process_pool import (
    TASKS_PER_WORKER,
    THREAD_ENV_VARS,
    ProcessPoolRunner,
    codec_threads_per_worker,
    pool_context,
    resolve_context,
    worker_count,
)
from .writing.queue import write_iterators
from .writing.session import WriteSession

__all__ = [
    "INCOMPLETE_ATTR",
    "TASKS_PER_WORKER",
    "THREAD_ENV_VARS",
    "BlockWriteFailure",
    "ParallelWriteError",
    "WriteTarget",
    "block_selections",
    "codec_threads_per_worker",
    "fork_safe",
    "logical_bytes",
    "multiprocess_safe",
    "pickled_iterator",
    "pool_context",
    "put_documents",
    "resolve_context",
    "set_incomplete",
    "worker_count",
    "write_iterators_in_parallel",
    "write_unit",
]


def write_iterators_in_parallel(io: Any, writers: list[IteratorWriter], queue: Any) -> None:
    """Write iterators with ``queue.number_of_jobs`` processes (``queue``: a ``ZarrIODataChunkIteratorQueue``);
    their final documents are left to ``IteratorWriter.finish``. ``io``: a ``ZarrIO`` or a ``WriteSession``."""
    session = io if isinstance(io, WriteSession) else io.write_session()
    context = pool_context(queue.multiprocessing_context, session.store)
    runner = ProcessPoolRunner(context, worker_count(queue.number_of_jobs), queue.max_threads_per_process)
    write_iterators(session, writers, lambda _: (runner, runner.placement))
