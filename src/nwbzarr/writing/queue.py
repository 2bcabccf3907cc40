"""``ZarrIODataChunkIteratorQueue``: datasets written from data chunk iterators, growing as data arrive."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np
from hdmf.data_utils import AbstractDataChunkIterator, DataChunk

from ..format.base import encode_json, to_buffer
from .blocks import write_block
from .blockwise import write_round_robin

if TYPE_CHECKING:
    from .io import ZarrIO
    from .write import ArrayJob


class ZarrIODataChunkIteratorQueue(deque):
    """A deque of ``(dataset, iterator)`` pairs, exhausted round-robin after the rest of a write.

    ``number_of_jobs``, ``max_threads_per_process`` and ``multiprocessing_context`` configure parallel
    writes of picklable iterators (see ``nwbzarr.parallel``). With one job every iterator is written in
    this process, round-robin: ``GenericDataChunkIterator``s a block at a time, reading the next block
    ahead (``backend.blockwise``), the others a chunk at a time as they arrive.
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

    def append(self, dataset: Any, data: AbstractDataChunkIterator) -> None:  # type: ignore[override]
        super().append((dataset, data))

    def exhaust_queue(self, io: ZarrIO | None = None) -> None:
        """Write every queued iterator to the end; datasets end with the shape of the data written."""
        writers = []
        while self:
            job, dci = self.popleft()
            writers.append(_IteratorWriter(io, job, dci))
        if not writers:
            return
        parallel = [w for w in writers if w.parallelisable(self.number_of_jobs, self.scheduler)]
        if parallel and self.scheduler is not None:
            from ..distributed import write_iterators_distributed

            write_iterators_distributed(io, parallel, self)
        elif parallel:
            from ..parallel import write_iterators_in_parallel

            write_iterators_in_parallel(io, parallel, self)
        write_round_robin(io, [w for w in writers if w not in parallel])
        for w in writers:
            w.finish()


class _IteratorWriter:
    """Writes one iterator's chunks into one array, growing its shape in memory; documents at the end."""

    def __init__(self, io: ZarrIO, job: ArrayJob, dci: AbstractDataChunkIterator) -> None:
        self.io = io
        self.job = job
        self.dci = dci
        self.extent = [0 for _ in job.spec.shape]
        self.fixed = [s if s is not None else None for s in (dci.maxshape or job.spec.shape)]
        self.shape = list(job.spec.shape)
        self.array = None

    def parallelisable(self, number_of_jobs: int, scheduler: Any = None) -> bool:
        if number_of_jobs == 1 and scheduler is None:
            return False
        from hdmf.data_utils import GenericDataChunkIterator

        return isinstance(self.dci, GenericDataChunkIterator)

    def write_next(self) -> bool:
        """Write the iterator's next chunk; False when it is exhausted."""
        try:
            chunk = next(self.dci)
        except StopIteration:
            return False
        if chunk is None or (isinstance(chunk, DataChunk) and chunk.data is None):
            return True
        self.write_chunk(chunk)
        return True

    def write_chunk(self, chunk: DataChunk) -> None:
        selection = _normalise_selection(chunk.selection, np.shape(chunk.data), len(self.shape))
        for dim, sl in enumerate(selection):
            self.extent[dim] = max(self.extent[dim], sl.stop)
        if any(self.extent[d] > self.shape[d] for d in range(len(self.shape))) or self.array is None:
            self.shape = [max(s, e) for s, e in zip(self.shape, self.extent)]
            self.io.layout.resize_documents(self.job.path, self.job.documents, tuple(self.shape))
            self.array = self.io.layout.open_array_for_write(self.io.store, self.job.path, self.job.documents)
            if getattr(self.io.store, "documents_before_chunks", False):  # e.g. Icechunk: see storage/icechunk.py
                self.io._run(_put_all(self.io, self.job.documents))
        values = self.io.layout.encode_array_values(self.job.spec, chunk.data) \
            if self.job.spec.kind != "numeric" else np.asarray(chunk.data, dtype=self.job.spec.dtype)
        try:
            self.io._run(write_block(self.array, tuple(selection), values))
        except Exception as exc:
            from .write import WriteError

            raise WriteError(f"writing a chunk of /{self.job.path} from its iterator failed: {exc}") from exc

    def finish(self) -> None:
        """Final shape = what was written (fixed dimensions of maxshape kept); write the documents once."""
        final = []
        for dim, extent in enumerate(self.extent):
            fixed = self.fixed[dim] if dim < len(self.fixed) else None
            final.append(int(fixed) if fixed is not None and fixed >= extent else extent)
        self.io.layout.resize_documents(self.job.path, self.job.documents, tuple(final))
        self.io._run(_put_all(self.io, self.job.documents))


def _normalise_selection(selection: Any, data_shape: tuple, ndim: int) -> list[slice]:
    if not isinstance(selection, tuple):
        selection = (selection,)
    out = []
    for dim in range(ndim):
        sl = selection[dim] if dim < len(selection) else slice(None)
        size = data_shape[dim] if dim < len(data_shape) else 1
        if isinstance(sl, (int, np.integer)):
            out.append(slice(int(sl), int(sl) + 1))
        elif isinstance(sl, slice):
            start = sl.start or 0
            stop = sl.stop if sl.stop is not None else start + size
            out.append(slice(int(start), int(stop)))
        else:
            raise ValueError(f"unsupported DataChunk selection {selection!r}")
    return out


async def _put_all(io: ZarrIO, documents: dict[str, dict]) -> None:
    await asyncio.gather(*(io.store.set(k, to_buffer(encode_json(d))) for k, d in documents.items()))
