"""Jobs of the iterator writers: which blocks of an array to write (``block_selections``, aligned to the
array's write unit so no two writers share a chunk or shard) and ``WriteTarget``, one array as a writer
(in this process, a worker process or a dask worker) sees it."""

from __future__ import annotations

import math
import os
import pickle
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._private_api import iterator_block
from ..format.base import ArraySpec
from .blocks import write_block

Selection = tuple[slice, ...]
Task = tuple[int, Selection]  # (index of the target in the run's target list, block)

__all__ = ["BlockWriteFailure", "Selection", "Task", "WriteTarget", "block_selections", "describe_selection",
           "logical_bytes", "pickled_iterator", "selection_shape", "write_unit"]


# --- blocks --------------------------------------------------------------------------------------
def write_unit(spec: ArraySpec) -> tuple[int, ...]:
    """The region one writer must own: a shard when the array is sharded, else a chunk."""
    unit = spec.shards or spec.chunks or spec.shape
    return tuple(max(1, int(u)) for u in unit)


def block_selections(shape: tuple[int, ...], unit: tuple[int, ...], buffer_shape: tuple[int, ...],
                     min_blocks: int = 1) -> list[Selection]:
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


def _blocks(shape: tuple[int, ...], block: list[int]) -> Iterator[Selection]:
    for index in np.ndindex(*(math.ceil(s / b) for s, b in zip(shape, block))):
        yield tuple(slice(i * b, min(s, (i + 1) * b)) for i, b, s in zip(index, block, shape))


def describe_selection(selection: Selection) -> str:
    """A block as users read it in messages: ``[0:128, 0:64]``."""
    return "[" + ", ".join(f"{s.start}:{s.stop}" for s in selection) + "]"


def selection_shape(selection: Selection) -> tuple[int, ...]:
    """The shape of a block (slices with bounds, as ``block_selections`` gives)."""
    return tuple(s.stop - s.start for s in selection)


def logical_bytes(spec: ArraySpec, shape: tuple[int, ...]) -> int:
    """Decoded size of an array of ``shape`` (objects counted as 8 bytes), for block sizing and progress."""
    itemsize = spec.dtype.itemsize if spec.dtype is not None and spec.dtype.kind != "O" else 8
    return int(math.prod(shape)) * itemsize


# --- what a writer needs to write one array -------------------------------------------------------
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


@dataclass
class WriteTarget:
    """One array as writers see it: the store (or its pickle), layout, documents, spec and iterator (or its
    pickle); pickles are opened once, on first use, in the process that uses them."""

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

    @property
    def iterator(self) -> Any:
        """The data chunk iterator (unpickled here on first use)."""
        return self._resolved("dci")

    def array(self) -> Any:
        """The array opened for writing (on first use, in this process)."""
        if "array" not in self._cache:
            store = self._resolved("store")
            self._cache["array"] = self.layout.open_array_for_write(store, self.path, self.documents)
        return self._cache["array"]

    def close(self) -> None:
        store = self._cache.get("store")
        if store is not None:
            store.close()

    def read(self, selection: Selection) -> np.ndarray:
        """One block read from the iterator (``_get_data``), encoded as the array stores it."""
        return self._values(iterator_block(self.iterator, selection), selection)

    async def store_block(self, selection: Selection, values: np.ndarray) -> None:
        """Store one block read by ``read``."""
        await write_block(self.array(), selection, values)

    def write(self, selection: Selection) -> int:
        """In a worker: read one block and store it; returns its logical size in bytes. Any failure is
        raised as ``BlockWriteFailure`` (picklable, with the worker's traceback)."""
        try:
            values = self.read(selection)
            from .._private_api import sync

            sync(self.store_block(selection, values))
            return int(values.size * (values.dtype.itemsize if values.dtype.kind != "O" else 8))
        except Exception:
            raise BlockWriteFailure(self.path, describe_selection(selection), os.getpid(),
                                    traceback.format_exc()) from None

    def _values(self, data: Any, selection: Selection) -> np.ndarray:
        expected = tuple(s.stop - s.start for s in selection)
        if self.spec.kind == "numeric":
            values = np.asarray(data, dtype=self.spec.dtype)
        else:
            values = np.asarray(self.layout.encode_array_values(self.spec, data))
        if values.shape != expected:
            raise ValueError(f"the iterator's _get_data({describe_selection(selection)}) returned shape "
                             f"{values.shape}, expected {expected}")
        return values


def pickled_iterator(dci: Any) -> bytes:
    """The iterator pickled for a worker, with its own progress bar turned off (the parent shows one)."""
    reduced = dci.__reduce__() if type(dci).__reduce__ is not object.__reduce__ else None
    if reduced and len(reduced) == 2 and len(reduced[1]) == 1 and isinstance(reduced[1][0], dict) \
            and reduced[1][0].get("display_progress"):
        return pickle.dumps(_Rebuilt(reduced[0], {**reduced[1][0], "display_progress": False}))
    return pickle.dumps(dci)


class _Rebuilt:
    """Pickles as ``constructor(kwargs)``: unpickling gives the iterator itself."""

    def __init__(self, constructor: Any, kwargs: dict) -> None:
        self.constructor, self.kwargs = constructor, kwargs

    def __reduce__(self) -> tuple:
        return self.constructor, (self.kwargs,)
