"""Dask: write data chunk iterators on a ``dask.distributed`` cluster, read datasets as dask arrays.

Writing has one spelling: ``io.write(container, scheduler=client)`` with a ``distributed.Client``
(``ZarrIODataChunkIteratorQueue(scheduler=client)`` underneath). Each ``GenericDataChunkIterator``'s
blocks (aligned to chunks, or shards when sharded: no two tasks share one) are read through
``_get_data`` and written on the workers, which receive the pickled iterator and the pickled *store*
(storage options included, e.g. an S3 ``FsspecStore``), never a path. Workers must reach the store:
a local directory needs a filesystem every worker shares. ``as_dask(dataset)`` reads a dataset lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .parallel import (
    INCOMPLETE_ATTR,
    BlockWriteFailure,
    ParallelWriteError,
    WriteTarget,
    complete,
    plan_blocks,
    split_writers,
    write_serially,
)

if TYPE_CHECKING:
    from .backend.io import ZarrIO
    from .backend.queue import ZarrIODataChunkIteratorQueue, _IteratorWriter

TASKS_PER_THREAD = 4

__all__ = ["StoredArrayReader", "as_dask", "check_client", "write_iterators_distributed"]


# --- writing -----------------------------------------------------------------------------------
def check_client(scheduler: Any) -> Any:
    """The scheduler as a running ``distributed.Client``, or a clear error."""
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - distributed is a dependency here
        raise ImportError("scheduler= needs dask.distributed (pip install distributed)") from exc
    if not isinstance(scheduler, Client):
        raise TypeError(f"scheduler must be a dask.distributed Client, not {type(scheduler).__name__} "
                        "(for processes on this machine use number_of_jobs=N instead)")
    if scheduler.status != "running":
        raise ValueError(f"the dask Client {scheduler!r} is {scheduler.status}, not running")
    return scheduler


def _write_block(target: WriteTarget, selection: tuple[slice, ...]) -> int:
    """Run on a dask worker: read one block from the iterator and write it into the store."""
    return target.write(selection)


def write_iterators_distributed(io: ZarrIO, writers: list[_IteratorWriter],
                                queue: ZarrIODataChunkIteratorQueue) -> None:
    """Write iterators on the workers of ``queue.scheduler``; ``finish()`` is left to the queue."""
    client = check_client(queue.scheduler)
    ready, serial = split_writers(io, writers, True, "on the dask cluster")
    write_serially(io, serial)
    if not ready:
        return
    threads = max(1, sum(client.nthreads().values()))
    targets, tasks, bars, shapes = plan_blocks(io, ready, TASKS_PER_THREAD * threads)
    try:
        _run_tasks(client, targets, tasks, bars)
    finally:
        for bar in bars:
            if bar is not None:
                bar.close()
    for (writer, _), shape in zip(ready, shapes):
        complete(writer, shape)


def _run_tasks(client: Any, targets: list[WriteTarget], tasks: list[tuple[int, tuple]], bars: list[Any]) -> None:
    from distributed import as_completed

    scattered = client.scatter(targets, broadcast=True, hash=False)
    futures = {client.submit(_write_block, scattered[i], sel, pure=False): (i, sel) for i, sel in tasks}
    try:
        for future in as_completed(list(futures)):
            index, selection = futures[future]
            nbytes = _result(future, targets[index].path, selection)
            if bars[index] is not None:
                bars[index].update(nbytes)
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        client.cancel(scattered)


def _result(future: Any, path: str, selection: tuple[slice, ...]) -> int:
    try:
        return future.result()
    except BlockWriteFailure as exc:
        raise ParallelWriteError(str(exc)) from None
    except Exception as exc:
        raise ParallelWriteError(f"a dask worker failed writing a block of dataset /{path} "
                                 f"({type(exc).__name__}: {exc}); the dataset is left marked {INCOMPLETE_ATTR}"
                                 ) from exc


# --- reading -----------------------------------------------------------------------------------
class StoredArrayReader:
    """A picklable, lazily opened view of one stored array with ``shape``, ``dtype`` and ``__getitem__``."""

    def __init__(self, store: Any, layout: Any, node: Any, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.store = store
        self.layout = layout
        self.node = node
        self.shape = tuple(shape)
        self.dtype = dtype
        self.ndim = len(self.shape)
        self._array: Any = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None}

    def __getitem__(self, key: Any) -> np.ndarray:
        from ._private_api import sync

        if self._array is None:
            self._array = self.layout.open_array(self.store, self.node)
        if self.node.scalar_as_1d:
            raw = sync(self._array.getitem(0))
        else:
            raw = sync(self._array.getitem(key if key != () else ...))
        values = self.layout.decode_array_values(self.node, np.asarray(raw))
        return np.asarray(values)


def as_dask(dataset: Any, chunks: tuple[int, ...] | None = None) -> Any:
    """A dask array over a dataset read by nwbzarr (or a ``zarr.Array``), one task per stored chunk by
    default; ``chunks`` may group whole stored chunks. Nothing is read until the array is computed."""
    import dask.array as da
    import zarr
    from dask.base import tokenize

    from .backend.arrays import BuilderReferenceDataset, ContainerReferenceDataset, ZarrDataset

    if isinstance(dataset, (BuilderReferenceDataset, ContainerReferenceDataset)):
        raise TypeError(f"as_dask reads numeric, text and compound datasets; {dataset.name} holds references")
    if not isinstance(dataset, ZarrDataset):
        if isinstance(dataset, zarr.Array):
            return da.from_zarr(dataset, chunks=aligned_chunks(dataset.shape, dataset.chunks, chunks, "array"))
        raise TypeError(f"as_dask needs a dataset read by nwbzarr (ZarrDataset) or a zarr.Array, "
                        f"not {type(dataset).__name__}")
    shape = tuple(dataset.shape)
    stored = tuple(dataset.chunks)[-len(shape):] if shape else ()
    blocks = aligned_chunks(shape, stored, chunks, dataset.name)
    dtype = np.dtype(dataset.dtype) if not isinstance(dataset.dtype, (str, list)) else np.dtype(object)
    io = dataset.io
    reader = StoredArrayReader(io.store, io.layout, dataset.node, shape, dtype)
    name = "nwbzarr-" + tokenize(repr(io.store), dataset.path, shape, blocks, repr(dataset.node.document))
    return da.from_array(reader, chunks=blocks, name=name, asarray=False, fancy=False,
                         meta=np.empty((0,) * len(shape), dtype=dtype))


def aligned_chunks(shape: tuple[int, ...], stored: tuple[int, ...], wanted: tuple[int, ...] | None,
                   where: str) -> tuple[int, ...]:
    """Stored chunks, or ``wanted`` when each is a whole multiple of them (or spans the axis)."""
    if wanted is None:
        return tuple(min(max(1, c), max(1, s)) for c, s in zip(stored, shape))
    wanted = tuple(int(c) for c in wanted)
    if len(wanted) != len(shape):
        raise ValueError(f"chunks {wanted} for {where} must have {len(shape)} entries (its shape is {shape})")
    for axis, (w, c, s) in enumerate(zip(wanted, stored, shape)):
        if w < 1 or (w % c and w < s):
            raise ValueError(f"chunks {wanted} for {where} are not aligned to its stored chunks {stored} "
                             f"(axis {axis}: {w} is not a multiple of {c})")
    return wanted
