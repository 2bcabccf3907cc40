"""One process, all cores: a ``GenericDataChunkIterator`` written block by block, reading ahead.

hdmf's own iteration hands over one buffer at a time (up to 1 GB by default): reading it and encoding
it never overlap, and a buffer that large costs more in fresh memory pages than in copying. Here the
array is cut into blocks of about ``BLOCK_BYTES`` aligned to its write unit (chunks, or shards); one
background thread reads the next block through the iterator's ``_get_data`` (called from one thread at
a time, in order) while the current block is encoded on all cores and stored. The dataset is marked
incomplete until the last block is stored, as with the process pool.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .blocks import write_block

if TYPE_CHECKING:
    from .io import ZarrIO
    from .queue import _IteratorWriter

BLOCK_BYTES = 64 << 20


def blockwise_writable(writer: _IteratorWriter) -> bool:
    """A ``GenericDataChunkIterator`` whose full shape is known reads by selection: block-wise applies."""
    from hdmf.data_utils import GenericDataChunkIterator

    maxshape = getattr(writer.dci, "maxshape", None)
    return isinstance(writer.dci, GenericDataChunkIterator) and bool(maxshape) \
        and all(s is not None for s in maxshape)


class BlockwiseWriter:
    """Writes one iterator block by block; ``write_next()`` stores one block (so the queue can go round-robin
    over all its iterators) while the shared ``reader`` thread reads this writer's next block."""

    def __init__(self, io: ZarrIO, writer: _IteratorWriter, reader: ThreadPoolExecutor) -> None:
        from ..parallel import WriteTarget, block_selections, logical_bytes, prepare, progress_bar, write_unit

        self.io, self.writer, self.reader = io, writer, reader
        self.shape = prepare(io, writer)
        spec = writer.job.spec
        self.target = WriteTarget(io.store, io.layout, writer.job.path, writer.job.documents, spec, writer.dci)
        blocks_wanted = max(1, math.ceil(logical_bytes(spec, self.shape) / BLOCK_BYTES))
        self.selections = block_selections(self.shape, write_unit(spec), self.shape, blocks_wanted)
        self.index = 0
        self.bar = progress_bar(writer, self.shape)
        self.ahead = reader.submit(_read, self.target, self.selections[0]) if self.selections else None

    def write_next(self) -> bool:
        """Store the next block; False (and the dataset marked complete) once every block is stored."""
        if self.index >= len(self.selections):
            self.finish()
            return False
        try:
            values = self.ahead.result()
            selection = self.selections[self.index]
            self.index += 1
            if self.index < len(self.selections):
                self.ahead = self.reader.submit(_read, self.target, self.selections[self.index])
            _store(self.io, self.target, selection, values)
        except BaseException:
            self.close_bar()
            raise
        if self.bar is not None:
            self.bar.update(values.nbytes)
        return True

    def finish(self) -> None:
        from ..parallel import complete

        self.close_bar()
        complete(self.writer, self.shape)

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def wait(self) -> None:
        """Let a read still in flight end (after a failure elsewhere), so no thread outlives the write."""
        if self.ahead is not None:
            try:
                self.ahead.result()
            except BaseException:
                pass


def write_round_robin(io: ZarrIO, writers: list[Any]) -> None:
    """Write iterators round-robin, one chunk (plain iterators) or one block (``GenericDataChunkIterator``)
    at a time; block-wise writers share one read-ahead thread."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nwbzarr-read-ahead") as reader:
        active = [BlockwiseWriter(io, w, reader) if blockwise_writable(w) else w for w in writers]
        try:
            while active:
                active = [w for w in active if w.write_next()]
        finally:
            for w in active:
                if isinstance(w, BlockwiseWriter):
                    w.close_bar()
                    w.wait()


def _read(target: Any, selection: tuple[slice, ...]) -> Any:
    from ..parallel import _describe

    try:
        return target._values(target.dci._get_data(selection), selection)
    except Exception as exc:
        from .write import WriteError

        raise WriteError(f"reading block {_describe(selection)} of /{target.path} from its iterator "
                         f"({type(target.dci).__name__}) failed: {exc}") from exc


def _store(io: ZarrIO, target: Any, selection: tuple[slice, ...], values: Any) -> None:
    from ..parallel import _describe

    try:
        io._run(write_block(target.array(), selection, values))
    except Exception as exc:
        from .write import WriteError

        raise WriteError(f"writing block {_describe(selection)} of /{target.path} failed: {exc}") from exc
