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
    from synchronous code, storing metadata documents; ``show_progress``: a bar while stored datasets
    are copied (iterators ask for their own with ``display_progress``). A remote store is written through
    its bounded form (``storage.remote_writes``), here and in the workers it is pickled to."""

    store: Store
    layout: Layout
    show_progress: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "store", bounded_writes(self.store))

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on zarr's event loop and return its result (blocking this thread)."""
        return sync(coro)

    def put_documents(self, documents: dict[str, dict]) -> None:
        """Store metadata documents now (key -> JSON document)."""
        self.run_sync(put_documents(self.store, documents))
