"""The in-process runner: block tasks read ahead on one thread and stored on all cores, round-robin.

hdmf's own iteration hands over one buffer at a time (up to 1 GB by default): reading it and encoding
it never overlap, and a buffer that large costs more in fresh memory pages than in copying. Here each
array is cut into blocks of about ``BLOCK_BYTES`` aligned to its write unit (chunks, or shards); one
background thread reads the next block through the iterator's ``_get_data`` (called from one thread at
a time, in order) while the current block is encoded on all cores and stored. Arrays advance round-robin,
a block each in turn, with the plain iterators (written a chunk at a time) among them, as hdmf's queue
does. The dataset is marked incomplete until its last block is stored, as with the process pool.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from ..errors import WriteError
from ..format.base import ArraySpec
from .jobs import (
    Selection,
    Task,
    WriteTarget,
    block_selections,
    describe_selection,
    logical_bytes,
    write_unit,
)
from .runners import OnDone, Placement
from .session import WriteSession

BLOCK_BYTES = 64 << 20

__all__ = ["BLOCK_BYTES", "SerialRunner", "serial_placement"]


class Stepper(Protocol):
    """A writer advanced one step at a time (``IteratorWriter.write_next``); False when it is done."""

    def write_next(self) -> bool: ...


def serial_blocks(spec: ArraySpec, shape: tuple[int, ...], buffer_shape: tuple[int, ...]) -> list[Selection]:
    """Blocks of about ``BLOCK_BYTES`` (whatever the iterator's buffer), aligned to the write unit."""
    wanted = max(1, math.ceil(logical_bytes(spec, shape) / BLOCK_BYTES))
    return block_selections(shape, write_unit(spec), shape, wanted)


def serial_placement() -> Placement:
    return Placement(where=None, blocks=serial_blocks, pickle_iterators=False)


class SerialRunner:
    """Runs block tasks in this process: per array, the next block is read on the shared read-ahead
    thread while the current one is stored; ``steppers`` (plain iterators) take their turns between."""

    def __init__(self, session: WriteSession, steppers: Sequence[Stepper] = ()) -> None:
        self.session = session
        self.steppers = list(steppers)

    def run(self, targets: Sequence[WriteTarget], tasks: Sequence[Task], on_done: OnDone) -> None:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nwbzarr-read-ahead") as reader:
            lanes = _lanes(targets, tasks, reader)
            active: list[Any] = [*lanes, *self.steppers]
            try:
                while active:
                    active = [lane for lane in active if self._step(lane, on_done)]
            finally:
                for lane in lanes:
                    lane.wait()

    def _step(self, lane: Any, on_done: OnDone) -> bool:
        if not isinstance(lane, _Lane):
            return lane.write_next()
        if lane.done():
            return False
        selection, values = lane.take()
        _store(self.session, lane.target, selection, values)
        on_done((lane.index, selection), values.nbytes)
        return True


class _Lane:
    """One array's blocks in order, with the next block's read in flight on the read-ahead thread."""

    def __init__(self, index: int, target: WriteTarget, selections: list[Selection],
                 reader: ThreadPoolExecutor) -> None:
        self.index, self.target, self.reader = index, target, reader
        self.selections = deque(selections)
        self.ahead: Future | None = self._submit()

    def _submit(self) -> Future | None:
        return self.reader.submit(_read, self.target, self.selections[0]) if self.selections else None

    def done(self) -> bool:
        return not self.selections

    def take(self) -> tuple[Selection, np.ndarray]:
        """The current block and its values; the read of the next one starts."""
        values = self.ahead.result()
        selection = self.selections.popleft()
        self.ahead = self._submit()
        return selection, values

    def wait(self) -> None:
        """Let a read still in flight end (after a failure elsewhere), so no thread outlives the write."""
        if self.ahead is not None:
            try:
                self.ahead.result()
            except BaseException:
                pass


def _lanes(targets: Sequence[WriteTarget], tasks: Sequence[Task], reader: ThreadPoolExecutor) -> list[_Lane]:
    by_target: dict[int, list[Selection]] = {}
    for index, selection in tasks:
        by_target.setdefault(index, []).append(selection)
    return [_Lane(index, targets[index], selections, reader) for index, selections in by_target.items()]


def _read(target: WriteTarget, selection: Selection) -> np.ndarray:
    try:
        return target.read(selection)
    except Exception as exc:
        raise WriteError(f"reading block {describe_selection(selection)} of /{target.path} from its iterator "
                         f"({type(target.iterator).__name__}) failed: {exc}") from exc


def _store(session: WriteSession, target: WriteTarget, selection: Selection, values: np.ndarray) -> None:
    try:
        session.run_sync(target.store_block(selection, values))
    except Exception as exc:
        raise WriteError(f"writing block {describe_selection(selection)} of /{target.path} failed: {exc}") from exc
