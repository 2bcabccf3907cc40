"""Writing a new file's documents and small chunks while the rest of the write is still being planned.

A write into a fresh store hands each node's encoded values to ``KeyStream`` as soon as the node is
planned. Once a write has proved large (``STREAM_AFTER`` keys), a child process
(``storage.writer_process``) creates the files while planning goes on, so the file system's work
overlaps the Python work of planning; a smaller write stores its keys from this process at the end,
which costs less than starting a process. When planning fails (a name Zarr cannot hold, a dtype it
cannot store) ``abort`` lets the child finish and removes every key handed over, leaving the store as
it was: this is why only fresh stores stream (docs/format.md, "Writing a store, step by step"), where
no key stored replaces one that existed before.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from zarr.abc.store import Store
from zarr.storage import LocalStore

from ..errors import HelperProcessLost, HelperProcessWarning
from ..storage.batch import sync_batch_remover, sync_batch_writer
from ..storage.writer_process import WriterProcess, start_writer_process

__all__ = ["STREAM_AFTER", "STREAM_BATCH", "KeyStream", "open_stream"]

#: Keys handed over before a child process is started: below this the process costs more than it saves
#: (~15 ms to start, against ~45 us per file created here).
STREAM_AFTER = 1024
#: Values sent to the child at once: the hand-over costs nothing next to the files, and the child starts
#: early (a W2 file is ~10,000 keys).
STREAM_BATCH = 256

Items = list[tuple[str, Any]]


class KeyStream:
    """Stores ``(key, value)`` pairs in the order given: from a child process once there are many, from
    this process otherwise; remembers every key so that ``abort`` can remove them again."""

    def __init__(self, root: str, write_batch: Callable[[Sequence[tuple[str, Any]]], None],
                 remove_keys: Callable[[Sequence[str]], None], stream_after: int = STREAM_AFTER) -> None:
        self._root = root
        self._write_batch = write_batch
        self._remove_keys = remove_keys
        self._stream_after = stream_after
        self._pending: Items = []
        self._keys: list[str] = []
        self._child: WriterProcess | None = None
        self._child_tried = False

    @property
    def keys(self) -> list[str]:
        """Every key handed to the stream so far."""
        return self._keys

    @property
    def streaming(self) -> bool:
        """Whether a child process is creating the files."""
        return self._child is not None

    def put(self, items: Items) -> None:
        """Queue values to store; raises the child's error once it has stopped on one."""
        self._pending.extend(items)
        self._keys.extend(key for key, _ in items)
        if not self._child_tried and len(self._keys) >= self._stream_after:
            self._child_tried = True
            self._child = start_writer_process(self._root)
        if self._child is not None and len(self._pending) >= STREAM_BATCH:
            batch, self._pending = self._pending, []
            try:
                self._child.write(batch)
            except HelperProcessLost as lost:
                self._carry_on_without_child(lost, batch)

    def record(self, keys: Sequence[str]) -> None:
        """Keys this process stores itself into the same fresh store: ``abort`` removes them as well."""
        self._keys.extend(keys)

    def flush(self) -> None:
        """Hand everything queued to the child (or, without one, store it now); does not wait for the child,
        which goes on while the write does other work."""
        batch, self._pending = self._pending, []
        if self._child is None:
            self._write_batch(batch)
            return
        try:
            if batch:
                self._child.write(batch)
        except HelperProcessLost as lost:
            self._carry_on_without_child(lost, batch)
            self.flush()

    def finish(self) -> None:
        """Store what is still queued and wait until every value is stored. On an error (the file system's,
        named by the child) every key handed over is removed again, then the error is raised."""
        try:
            self.flush()
            if self._child is not None:
                try:
                    self._child.close()
                except HelperProcessLost as lost:
                    self._carry_on_without_child(lost, [])
                    self.flush()
                else:
                    self._child.discard()
            self._child = None
        except BaseException:
            self.abort()
            raise

    def stop(self) -> None:
        """Wait for the child to end, keeping what it stored (another part of the write failed)."""
        self._pending = []
        child, self._child = self._child, None
        if child is not None:
            with contextlib.suppress(OSError, HelperProcessLost):  # not the error being raised
                child.close()
            child.discard()

    def _carry_on_without_child(self, lost: HelperProcessLost, unsent: Items) -> None:
        """The child is gone without a file system error: store everything it was given (read back from its
        spool) and ``unsent`` (the batch it could not take) from here."""
        warnings.warn(f"{lost}; nwbzarr stores the rest of the write from this process", HelperProcessWarning,
                      stacklevel=3)
        child, self._child = self._child, None
        with contextlib.suppress(HelperProcessLost, OSError):
            child.close()
        try:
            given = child.handed_over()
        finally:
            child.discard()
        self._pending = given + unsent + self._pending

    def abort(self) -> None:
        """Stop: let the child end, then remove every key handed to the stream (stored or not)."""
        self.stop()
        if self._keys:
            self._remove_keys(self._keys)
        self._keys = []


def open_stream(store: Store) -> KeyStream | None:
    """A ``KeyStream`` into ``store`` where streaming pays (a writable local directory), else None: the
    write then stores everything after planning."""
    write_batch = sync_batch_writer(store)
    remove_keys = sync_batch_remover(store)
    if write_batch is None or remove_keys is None or not isinstance(store, LocalStore):
        return None
    return KeyStream(str(store.root), write_batch, remove_keys, stream_after=STREAM_AFTER)
