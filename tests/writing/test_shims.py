"""``nwbzarr.parallel`` and ``nwbzarr.distributed`` keep the names users import from them, now re-exported
from the writing layer (and ``backend.dask_arrays`` for reading as dask arrays)."""

from __future__ import annotations

import pytest

import nwbzarr.distributed as distributed
import nwbzarr.parallel as parallel
from nwbzarr import writing
from nwbzarr.backend import ZarrIODataChunkIteratorQueue
from nwbzarr.errors import ParallelWriteError, WriteError
from nwbzarr.storage import capabilities

PARALLEL = ["INCOMPLETE_ATTR", "ParallelWriteError", "WriteTarget", "block_selections", "multiprocess_safe",
            "fork_safe", "write_iterators_in_parallel", "write_unit", "pool_context", "resolve_context"]
DISTRIBUTED = ["StoredArrayReader", "as_dask", "aligned_chunks", "check_client", "write_iterators_distributed",
               "INCOMPLETE_ATTR", "ParallelWriteError", "WriteTarget"]


@pytest.mark.parametrize("name", PARALLEL)
def test_parallel_keeps_its_names(name) -> None:
    assert name in parallel.__all__ and getattr(parallel, name) is not None


@pytest.mark.parametrize("name", DISTRIBUTED)
def test_distributed_keeps_its_names(name) -> None:
    assert name in distributed.__all__ and getattr(distributed, name) is not None


def test_the_shims_hand_out_the_writing_layers_objects() -> None:
    assert parallel.WriteTarget is distributed.WriteTarget is writing.WriteTarget
    assert parallel.block_selections is writing.block_selections
    assert parallel.INCOMPLETE_ATTR == writing.INCOMPLETE_ATTR == "nwbzarr_incomplete"
    assert parallel.multiprocess_safe is capabilities.multiprocess_safe
    assert issubclass(parallel.ParallelWriteError, WriteError) and parallel.ParallelWriteError is ParallelWriteError
    assert ZarrIODataChunkIteratorQueue is writing.ZarrIODataChunkIteratorQueue
