"""Dask: write data chunk iterators on a ``dask.distributed`` cluster, read datasets as dask arrays.

Writing has one spelling: ``io.write(container, scheduler=client)`` with a ``distributed.Client``
(``ZarrIODataChunkIteratorQueue(scheduler=client)`` underneath; the runner is ``writing.dask_runner``).
Workers receive the pickled iterator and the pickled *store*, never a path, so they must reach the
store. ``as_dask(dataset)`` reads a dataset lazily (``backend.dask_arrays``). Names kept for existing
imports.
"""

from __future__ import annotations

from typing import Any

from .backend.dask_arrays import StoredArrayReader, aligned_chunks, as_dask
from .errors import ParallelWriteError
from .writing.dask_runner import TASKS_PER_THREAD, DaskRunner, check_client
from .writing.documents import INCOMPLETE_ATTR
from .writing.iterators import IteratorWriter
from .writing.jobs import BlockWriteFailure, WriteTarget
from .writing.queue import write_iterators
from .writing.session import WriteSession

__all__ = [
    "INCOMPLETE_ATTR",
    "TASKS_PER_THREAD",
    "BlockWriteFailure",
    "ParallelWriteError",
    "StoredArrayReader",
    "WriteTarget",
    "aligned_chunks",
    "as_dask",
    "check_client",
    "write_iterators_distributed",
]


def write_iterators_distributed(io: Any, writers: list[IteratorWriter], queue: Any) -> None:
    """Write iterators on the workers of ``queue.scheduler``; their final documents are left to
    ``IteratorWriter.finish``. ``io``: a ``ZarrIO`` or a ``WriteSession``."""
    session = io if isinstance(io, WriteSession) else io.write_session()
    runner = DaskRunner(queue.scheduler)
    write_iterators(session, writers, lambda _: (runner, runner.placement))
