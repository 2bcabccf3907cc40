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


def write_blockwise(io: ZarrIO, writer: _IteratorWriter) -> None:
    """Write the whole iterator in chunk-aligned blocks, reading each next block while storing this one."""
    from ..parallel import (
        WriteTarget,
        block_selections,
        complete,
        logical_bytes,
        prepare,
        progress_bar,
        write_unit,
    )

    shape = prepare(io, writer)
    spec = writer.job.spec
    target = WriteTarget(io.store, io.layout, writer.job.path, writer.job.documents, spec, writer.dci)
    blocks_wanted = max(1, math.ceil(logical_bytes(spec, shape) / BLOCK_BYTES))
    selections = block_selections(shape, write_unit(spec), shape, blocks_wanted)
    bar = progress_bar(writer, shape)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nwbzarr-read-ahead") as reader:
            ahead = reader.submit(_read, target, selections[0]) if selections else None
            for index, selection in enumerate(selections):
                values = ahead.result()
                if index + 1 < len(selections):
                    ahead = reader.submit(_read, target, selections[index + 1])
                _store(io, target, selection, values)
                if bar is not None:
                    bar.update(values.nbytes)
    finally:
        if bar is not None:
            bar.close()
    complete(writer, shape)


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
