"""The ``Runner`` protocol: what executes block tasks (in this process, a process pool, a dask cluster),
and ``Placement``: how the queue cuts and packs arrays for a runner. Planning and completing the writes
is the queue's (``writing.queue``); a runner only executes tasks and reports each one done."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..format.base import ArraySpec
from .jobs import Selection, Task, WriteTarget

OnDone = Callable[[Task, int], None]  # (task, logical bytes written)

__all__ = ["OnDone", "Placement", "Runner"]


class Runner(Protocol):
    """Executes block tasks: each ``(index, selection)`` writes ``selection`` of ``targets[index]``;
    ``on_done`` is called in this process, in this thread, once per finished task. The first failure is
    raised (a ``WriteError``); tasks still running are let finish or cancelled, none is left behind."""

    def run(self, targets: Sequence[WriteTarget], tasks: Sequence[Task], on_done: OnDone) -> None: ...


@dataclass(frozen=True)
class Placement:
    """Where a runner writes and how arrays are cut for it.

    ``where``: None for this process, else how the runner writes, for messages ("with 4 processes");
    another process receives the store pickled (so it must be ``multiprocess_safe``) and, when
    ``pickle_iterators``, the iterators pickled (an iterator that does not pickle is written here).
    ``blocks``: the blocks of one array of a given shape.
    """

    where: str | None
    blocks: Callable[[ArraySpec, tuple[int, ...], tuple[int, ...]], list[Selection]]
    pickle_iterators: bool = True

    @property
    def remote(self) -> bool:
        return self.where is not None
