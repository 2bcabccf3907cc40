"""Deletes of chunks that share a container, applied as one batch.

Deleting a chunk from a container an earlier session wrote means rebuilding that container in a
temporary file (HDF5 is not safe to change in place under a kill). zarr deletes chunks concurrently
(``resize`` to a smaller shape, or writing fill values with ``write_empty_chunks=False``); applying
the deletes that arrive together in one rebuild turns N rebuilds into a few.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError

# container -> member -> (store key, the futures of every delete waiting for that member)
Pending = dict[str, tuple[str, list[Future]]]


class DeleteBatches:
    """Pending chunk deletes per container. The first delete to arrive leads: it takes the container's
    lock and applies batch after batch until nothing is queued; deletes arriving meanwhile only wait
    for their batch's outcome, so they never queue for the lock themselves."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._pending: dict[str, Pending] = {}
        self._leaders: set[str] = set()

    def enqueue(self, container: str, member: str, key: str) -> tuple[Future, bool]:
        """Queue one delete; returns its future and whether the caller must lead (call ``drain``)."""
        done: Future = Future()
        with self._guard:
            batch = self._pending.setdefault(container, {})
            batch.setdefault(member, (key, []))[1].append(done)
            lead = container not in self._leaders
            self._leaders.add(container)
        return done, lead

    def drain(self, container: str, delete: Callable[[Pending], None]) -> None:
        """(Leader, holding the container's lock.) Hand each queued batch to ``delete`` and settle its
        futures with the outcome, until the queue is empty; then stop leading."""
        while True:
            with self._guard:
                batch = self._pending.pop(container, {})
                if not batch:
                    self._leaders.discard(container)
                    return
            try:
                delete(batch)
            except BaseException as exc:
                _settle(batch, exc)
            else:
                _settle(batch, None)

    def abandon(self, container: str, error: BaseException) -> None:
        """(Leader that could not drain, e.g. the lock failed.) Fail everything queued and stop leading."""
        with self._guard:
            batch = self._pending.pop(container, {})
            self._leaders.discard(container)
        _settle(batch, error)

    def __len__(self) -> int:
        with self._guard:
            return sum(len(batch) for batch in self._pending.values())


def _settle(batch: Pending, error: BaseException | None) -> None:
    """Give every waiting delete the batch's outcome; one whose waiter was cancelled (an awaiting
    coroutine cancels its future) is skipped, so it cannot keep the others waiting."""
    for _, futures in batch.values():
        for done in futures:
            try:
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)
            except InvalidStateError:
                pass
