"""Writing array data: the layer between ``format/`` (what is stored) and ``backend/`` (HDMF's I/O).

Writers see a ``WriteSession`` (store, layout, running coroutines, the codec pool), never ``ZarrIO``.
Data chunk iterators are written by the queue (``queue``): each array is cut into blocks aligned to its
chunks or shards (``jobs``), and a ``Runner`` executes the block tasks: in this process (``serial``), on
a process pool (``process_pool``) or on a dask cluster (``dask_runner``). This package imports only
``storage/``, ``format/``, ``nwbzarr.errors`` and libraries.
"""

from __future__ import annotations

from .documents import INCOMPLETE_ATTR, encoded_documents, put_documents, set_incomplete
from .iterators import IteratorWriter
from .jobs import BlockWriteFailure, WriteTarget, block_selections, describe_selection, write_unit
from .queue import ZarrIODataChunkIteratorQueue, write_iterators
from .runners import Placement, Runner
from .session import WriteSession

__all__ = [
    "INCOMPLETE_ATTR",
    "BlockWriteFailure",
    "IteratorWriter",
    "Placement",
    "Runner",
    "WriteSession",
    "WriteTarget",
    "ZarrIODataChunkIteratorQueue",
    "block_selections",
    "describe_selection",
    "encoded_documents",
    "put_documents",
    "set_incomplete",
    "write_iterators",
    "write_unit",
]
