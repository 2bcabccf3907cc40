"""``IteratorWriter``: one data chunk iterator written into one array, the array growing as data arrive."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from hdmf.data_utils import AbstractDataChunkIterator, DataChunk, GenericDataChunkIterator

from ..errors import WriteError
from ..format.base import ArraySpec
from ..storage.progress import advance, grow
from .blocks import write_block
from .documents import set_incomplete
from .jobs import WriteTarget, logical_bytes, selection_shape
from .session import WriteSession

__all__ = ["ArrayJobLike", "IteratorWriter"]


class ArrayJobLike(Protocol):
    """What the writer needs of a planned array (``backend.write.ArrayJob``): where, what, its documents."""

    path: str
    spec: ArraySpec
    documents: dict[str, dict]


class IteratorWriter:
    """Writes one iterator's data into one array; its documents are stored by ``finish()``.

    Plain iterators are written chunk by chunk as they arrive (``write_next``), growing the array's shape
    in memory. ``GenericDataChunkIterator``s are written by block (``target``), between ``prepare()``
    (full shape, documents stored marked incomplete) and ``complete()`` (marker dropped).
    """

    def __init__(self, session: WriteSession, job: ArrayJobLike, dci: AbstractDataChunkIterator) -> None:
        self.session = session
        self.job = job
        self.dci = dci
        self.extent = [0 for _ in job.spec.shape]
        self.fixed = [s if s is not None else None for s in (dci.maxshape or job.spec.shape)]
        self.shape = list(job.spec.shape)
        self.array: Any = None

    @property
    def path(self) -> str:
        return self.job.path

    # --- written by block ------------------------------------------------------------------------
    def by_block(self) -> bool:
        """A ``GenericDataChunkIterator`` whose full shape is known reads by selection: it can be written
        by block, by any runner."""
        maxshape = getattr(self.dci, "maxshape", None)
        return isinstance(self.dci, GenericDataChunkIterator) and bool(maxshape) \
            and all(s is not None for s in maxshape)

    def full_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.dci.maxshape)

    def prepare(self) -> tuple[int, ...]:
        """Size the array to the iterator's full shape and store its documents marked incomplete."""
        shape = self.full_shape()
        self.session.layout.resize_documents(self.job.path, self.job.documents, shape)
        set_incomplete(self.job.documents, True)
        self.session.put_documents(self.job.documents)
        return shape

    def target(self, store: Any = None, dci: Any = None) -> WriteTarget:
        """This array as a runner sees it; ``store``/``dci``: their pickles, for another process."""
        return WriteTarget(self.session.store if store is None else store, self.session.layout, self.job.path,
                           self.job.documents, self.job.spec, self.dci if dci is None else dci)

    def complete(self, shape: tuple[int, ...]) -> None:
        """Every block is stored: record the written extent and drop the marker (``finish()`` stores it)."""
        self.extent = list(shape)
        self.shape = list(shape)
        set_incomplete(self.job.documents, False)

    def progress_bar(self, shape: tuple[int, ...]) -> Any:
        """A tqdm bar in bytes when the iterator asks for progress (its own per-buffer bar is closed)."""
        dci = self.dci
        if not getattr(dci, "display_progress", False):
            return None
        own = getattr(dci, "progress_bar", None)
        if own is not None:
            own.close()
        from tqdm import tqdm

        options = {k: v for k, v in (getattr(dci, "progress_bar_options", None) or {}).items() if k != "total"}
        options.setdefault("desc", f"/{self.job.path}")
        return tqdm(total=logical_bytes(self.job.spec, shape), unit="B", unit_scale=True, unit_divisor=1024,
                    **options)

    # --- written chunk by chunk ------------------------------------------------------------------
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
        """Store one ``DataChunk``, growing the array first when it lies beyond the current shape."""
        session, job = self.session, self.job
        selection = normalise_selection(chunk.selection, np.shape(chunk.data), len(self.shape))
        for dim, sl in enumerate(selection):
            self.extent[dim] = max(self.extent[dim], sl.stop)
        if any(self.extent[d] > self.shape[d] for d in range(len(self.shape))) or self.array is None:
            self.shape = [max(s, e) for s, e in zip(self.shape, self.extent)]
            session.layout.resize_documents(job.path, job.documents, tuple(self.shape))
            self.array = session.layout.open_array_for_write(session.store, job.path, job.documents)
            if getattr(session.store, "documents_before_chunks", False):  # e.g. Icechunk: see storage/icechunk.py
                session.put_documents(job.documents)
        values = session.layout.encode_array_values(job.spec, chunk.data) \
            if job.spec.kind != "numeric" else np.asarray(chunk.data, dtype=job.spec.dtype)
        try:
            session.run_sync(write_block(self.array, tuple(selection), values))
        except Exception as exc:
            raise WriteError(f"writing a chunk of /{job.path} from its iterator failed: {exc}") from exc
        nbytes = logical_bytes(job.spec, selection_shape(tuple(selection)))  # no total known ahead: grows
        grow(session.bar, nbytes)
        advance(session.bar, nbytes)

    def finish(self) -> None:
        """Final shape = what was written (fixed dimensions of maxshape kept); store the documents once."""
        final = []
        for dim, extent in enumerate(self.extent):
            fixed = self.fixed[dim] if dim < len(self.fixed) else None
            final.append(int(fixed) if fixed is not None and fixed >= extent else extent)
        self.session.layout.resize_documents(self.job.path, self.job.documents, tuple(final))
        self.session.put_documents(self.job.documents)


def normalise_selection(selection: Any, data_shape: tuple, ndim: int) -> list[slice]:
    """A ``DataChunk`` selection (ints, slices, a tuple of them) as one slice per dimension."""
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
