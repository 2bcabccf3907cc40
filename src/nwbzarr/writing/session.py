"""``WriteSession``: what writers of array data see of the file being written (instead of ``ZarrIO``)."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from zarr.abc.store import Store

from .._private_api import sync
from ..format.base import Layout
from ..storage.remote_writes import bounded_writes
from .documents import put_documents

T = TypeVar("T")

__all__ = ["WriteSession"]


@dataclass(frozen=True)
class WriteSession:
    """The open store and its layout, with what writers need besides: running a coroutine to completion
    from synchronous code, storing metadata documents; ``show_progress``: whether the write shows a bar
    (True, False, or None: when stderr is a terminal); ``bar``: that bar, in bytes, shared by every writer
    of the write (values, copies, iterators in any runner), or None. Iterators may ask for their own bar
    too (``display_progress``). A remote store is written through its bounded form
    (``storage.remote_writes``), here and in the workers it is pickled to."""

    store: Store
    layout: Layout
    show_progress: bool | None = False
    bar: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "store", bounded_writes(self.store))

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on zarr's event loop and return its result (blocking this thread)."""
        return sync(coro)

    def put_documents(self, documents: dict[str, dict]) -> None:
        """Store metadata documents now (key -> JSON document)."""
        self.run_sync(put_documents(self.store, documents))
