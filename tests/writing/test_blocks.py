"""Block selection (``writing.jobs.block_selections``), shared by every runner and by ``migrate``: the blocks
tile the array exactly, each a whole number of write units (clipped at the array's edges)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nwbzarr.format.base import ArraySpec
from nwbzarr.migrate import block_selections as migrate_blocks
from nwbzarr.writing import block_selections, write_unit


@st.composite
def cases(draw):
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(0, 40), min_size=rank, max_size=rank)))
    unit = tuple(draw(st.lists(st.integers(1, 12), min_size=rank, max_size=rank)))
    buffer = tuple(draw(st.lists(st.integers(1, 50), min_size=rank, max_size=rank)))
    return shape, unit, buffer, draw(st.integers(1, 20))


def owners(shape, unit, blocks) -> np.ndarray:
    """How many blocks hold each unit of the array (after checking each block's alignment)."""
    count = np.zeros(tuple(math.ceil(s / u) for s, u in zip(shape, unit)), dtype=int)
    for block in blocks:
        assert len(block) == len(shape)
        for sl, u, s in zip(block, unit, shape):
            assert 0 <= sl.start < sl.stop <= s
            assert sl.start % u == 0 and (sl.stop % u == 0 or sl.stop == s), (block, unit, shape)
        count[tuple(slice(sl.start // u, math.ceil(sl.stop / u)) for sl, u in zip(block, unit))] += 1
    return count


@settings(max_examples=300, deadline=None)
@given(cases())
def test_blocks_tile_the_shape_once_aligned_to_the_write_unit(case) -> None:
    shape, unit, buffer, minimum = case
    blocks = block_selections(shape, unit, buffer, minimum)
    if 0 in shape:
        assert blocks == []
        return
    assert (owners(shape, unit, blocks) == 1).all()
    covered = np.zeros(shape, dtype=int)
    for block in blocks:
        covered[block] += 1
    assert (covered == 1).all()  # every element in exactly one block
    assert len(blocks) >= min(minimum, math.prod(math.ceil(s / u) for s, u in zip(shape, unit)))


def test_blocks_of_different_rank_are_refused() -> None:
    try:
        block_selections((10, 10), (5,), (10, 10))
    except ValueError as exc:
        assert "differ in rank" in str(exc)
    else:
        raise AssertionError("a write unit of the wrong rank was accepted")


def test_write_unit_is_the_shard_when_sharded_else_the_chunk() -> None:
    assert write_unit(ArraySpec(shape=(100, 10), kind="numeric", chunks=(8, 5), shards=(32, 10))) == (32, 10)
    assert write_unit(ArraySpec(shape=(100, 10), kind="numeric", chunks=(8, 5))) == (8, 5)
    assert write_unit(ArraySpec(shape=(100, 10), kind="numeric")) == (100, 10)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=3), st.data())
def test_migrate_blocks_tile_the_array_by_whole_chunks_within_the_budget(shape, data) -> None:
    shape = tuple(shape)
    chunks = tuple(data.draw(st.integers(1, 12)) for _ in shape)
    budget = data.draw(st.integers(1, 4096))
    blocks = list(migrate_blocks(shape, chunks, 8, budget))
    assert (owners(shape, chunks, blocks) == 1).all()
    per_chunk = math.prod(chunks) * 8
    rows = chunks[0] * max(1, budget // per_chunk)
    for block in blocks:  # whole chunks along the first axis up to the budget, one chunk elsewhere
        assert block[0].stop - block[0].start <= rows
        assert all(sl.stop - sl.start <= c for sl, c in zip(block[1:], chunks[1:]))
