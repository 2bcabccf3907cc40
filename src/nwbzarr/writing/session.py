"""``WriteSession``: what writers of array data see of the file being written (instead of ``ZarrIO``)."""

from __future__ import annotations

from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from zarr.abc.store import Store
from zarr.core.sync import sync

from ..format.base import Layout
from .documents import put_documents
from .pool import codec_pool

T = TypeVar("T")

__all__ = ["WriteSession"]


@dataclass(frozen=True)
class WriteSession:
    """The open store and its layout, with the small services writers need: running a coroutine to
    completion from synchronous code, the codec thread pool, storing metadata documents."""

    store: Store
    layout: Layout

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on zarr's event loop and return its result (blocking this thread)."""
        return sync(coro)

    def put_documents(self, documents: dict[str, dict]) -> None:
        """Store metadata documents now (key -> JSON document)."""
        self.run_sync(put_documents(self.store, documents))

    @staticmethod
    def codec_pool() -> ThreadPoolExecutor:
        """This process's thread pool for chunk encoding (``writing.pool``)."""
        return codec_pool()
