"""Blocks handed to workers: disjoint, covering, aligned to chunks (or shards), split for enough work."""

from __future__ import annotations

import numpy as np
import pytest

from nwbzarr.distributed import aligned_chunks
from nwbzarr.parallel import block_selections


@pytest.mark.parametrize("shape,unit,buffer,minimum", [
    ((699050, 384), (65536, 64), (655360, 384), 8),
    ((300, 70), (64, 20), (64, 70), 8),
    ((300, 70), (16, 10), (50, 33), 1),
    ((7,), (3,), (100,), 4),
    ((5, 6, 7), (2, 3, 4), (4, 6, 8), 3),
])
def test_blocks_cover_once_and_align(shape, unit, buffer, minimum) -> None:
    blocks = block_selections(shape, unit, buffer, minimum)
    owner = np.zeros(tuple(-(-s // u) for s, u in zip(shape, unit)), dtype=int)
    for block in blocks:
        for sl, u, s in zip(block, unit, shape):
            assert sl.start % u == 0 and (sl.stop % u == 0 or sl.stop == s)
        owner[tuple(slice(sl.start // u, -(-sl.stop // u)) for sl, u in zip(block, unit))] += 1
    assert (owner == 1).all()  # every chunk (or shard) in exactly one block
    possible = int(np.prod(owner.shape))
    assert len(blocks) >= min(minimum, possible)


def test_w1_blocks_are_balanced() -> None:
    blocks = block_selections((699050, 384), (65536, 64), (655360, 384), 8)
    rows = sorted(b[0].stop - b[0].start for b in blocks)
    assert len(blocks) == 11 and rows[-1] == 65536 and all(b[1] == slice(0, 384) for b in blocks)


def test_empty_array_has_no_blocks() -> None:
    assert block_selections((0, 5), (4, 5), (4, 5), 4) == []


def test_rank_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ in rank"):
        block_selections((10, 10), (5,), (10, 10))


def test_dask_chunks_must_group_whole_stored_chunks() -> None:
    assert aligned_chunks((100, 10), (16, 10), None, "/x") == (16, 10)
    assert aligned_chunks((100, 10), (16, 10), (32, 10), "/x") == (32, 10)
    assert aligned_chunks((100, 10), (16, 10), (100, 10), "/x") == (100, 10)
    with pytest.raises(ValueError, match="not aligned to its stored chunks"):
        aligned_chunks((100, 10), (16, 10), (20, 10), "/x")
    with pytest.raises(ValueError, match="must have 2 entries"):
        aligned_chunks((100, 10), (16, 10), (16,), "/x")
