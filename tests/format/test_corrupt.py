"""The one damaged-chunk probe (``corrupt.read_error``): it names the first damaged chunk (or shard) a failed
read touched, and nothing when the selection misses it."""

from __future__ import annotations

import numpy as np
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from nwbzarr._private_api import sync
from nwbzarr.format.corrupt import ChunkError, CorruptChunkError, read_error


def _probe(array, selection, where=None):
    """read_error's answer (zarr's ``sync`` would raise an exception returned by a coroutine)."""
    async def boxed():
        return [await read_error(array, selection, where)]

    return sync(boxed())[0]


def _written(tmp_path, *, chunks: int, shards: int | None = None) -> zarr.Array:
    store = zarr.storage.LocalStore(tmp_path)
    arr = zarr.create_array(store, name="d", shape=(40,), chunks=(chunks,), shards=(shards,) if shards else None,
                            dtype="float64", compressors=zarr.codecs.ZstdCodec(), fill_value=0.0)
    arr[...] = np.arange(40.0)
    return arr


@settings(max_examples=15, deadline=None)
@given(victim=st.integers(0, 4), start=st.integers(0, 39), length=st.integers(1, 40))
def test_the_damaged_chunk_is_named_only_when_the_read_touches_it(tmp_path_factory, victim, start, length):
    tmp_path = tmp_path_factory.mktemp("probe")
    arr = _written(tmp_path, chunks=8)
    (tmp_path / "d" / "c" / str(victim)).write_bytes(b"garbage, not zstd")
    stop = min(40, start + length)
    found = _probe(arr.async_array, slice(start, stop), "/d")
    if start // 8 <= victim <= (stop - 1) // 8:
        assert isinstance(found, ChunkError) and isinstance(found, CorruptChunkError)
        assert f"dataset /d, chunk 'd/c/{victim}': cannot be decoded (" in str(found)
        assert str(tmp_path) in str(found)
    else:
        assert found is None


def test_a_chunk_of_the_wrong_size_is_named(tmp_path):
    """A chunk that decodes cleanly to fewer elements than the array's chunk holds is named."""
    arr = _written(tmp_path, chunks=8)
    small = zarr.create_array(zarr.storage.LocalStore(tmp_path / "small"), name="s", shape=(4,), chunks=(4,),
                              dtype="float64", compressors=zarr.codecs.ZstdCodec())
    small[...] = 1.0
    (tmp_path / "d" / "c" / "2").write_bytes((tmp_path / "small" / "s" / "c" / "0").read_bytes())
    found = _probe(arr.async_array, (slice(None),), "/d")
    assert isinstance(found, ChunkError)
    assert "chunk 'd/c/2'" in str(found)
    assert "cannot be decoded (ValueError: cannot reshape array of size 4 into shape (8,))" in str(found)


def test_a_damaged_shard_is_named_by_its_key(tmp_path):
    arr = _written(tmp_path, chunks=4, shards=20)
    (tmp_path / "d" / "c" / "1").write_bytes(b"not a shard")
    found = _probe(arr.async_array, ..., None)
    assert isinstance(found, CorruptChunkError) and "dataset /d: chunk 'd/c/1' cannot be decoded" in str(found)
    assert _probe(arr.async_array, slice(0, 20)) is None


def test_a_store_that_fails_is_not_a_damaged_chunk(tmp_path):
    """read_error says nothing when the store itself fails (its own error is the one to raise): here the
    chunk's key is a directory, which the store cannot read."""
    arr = _written(tmp_path, chunks=8)
    (tmp_path / "d" / "c" / "0").unlink()
    (tmp_path / "d" / "c" / "0").mkdir()
    assert _probe(arr.async_array, slice(0, 8)) is None
