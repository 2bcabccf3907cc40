"""Every private zarr/hdmf API nwbzarr relies on (``nwbzarr._private_api``) still works on the installed
releases, and every fast path built on one is ON: a zarr or hdmf release that moves an internal fails here,
loudly, instead of making nwbzarr silently slower. CI runs this module on the oldest and the newest zarr."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import re
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from zarr.abc.store import Store
from zarr.buffer import default_buffer_prototype
from zarr.codecs import BloscCodec, ZstdCodec

from nwbzarr import _private_api as api
from nwbzarr.format.chunks import chunk_decoder, chunk_encoder, decode_single_chunk, single_chunk_bytes
from nwbzarr.format.codecs import default_compressors
from nwbzarr.format.safe_codecs import ChunkSizeError, checked_v3_codecs

SRC = Path(__file__).resolve().parents[1] / "src" / "nwbzarr"

# a fast path that switches itself off warns FastPathOffWarning: here that is a failure
pytestmark = pytest.mark.filterwarnings("error::nwbzarr._private_api.FastPathOffWarning")


def _array(store: Store, *, zarr_format: int, shape, chunks, dtype="int16", compressors="default", shards=None):
    compressors = default_compressors("number") if compressors == "default" else compressors
    if zarr_format == 2:
        compressors = None if compressors is None else "auto"
    return zarr.create_array(store, name="a", shape=shape, chunks=chunks, shards=shards, dtype=dtype,
                             compressors=compressors, zarr_format=zarr_format, fill_value=0)


def _stored(store: Store, key: str) -> bytes:
    return api.sync(store.get(key, prototype=default_buffer_prototype())).to_bytes()


# --- direct chunk encoding and decoding (Codec._encode_sync/_decode_sync, chunk specs, array config) ---
@pytest.mark.parametrize("zarr_format", [3])  # v2 metadata keeps no codec list: zarr's path (as before)
@pytest.mark.parametrize("compressors", ["default", None])
def test_single_chunk_fast_path_is_on_and_writes_what_zarr_writes(zarr_format, compressors):
    """single_chunk_bytes/decode_single_chunk (the small-array writer and reader of v3 arrays) run, and their
    bytes are zarr's own bytes for the same values."""
    store = zarr.storage.MemoryStore()
    arr = _array(store, zarr_format=zarr_format, shape=(6, 4), chunks=(6, 4), compressors=compressors)
    values = np.arange(24, dtype="int16").reshape(6, 4)
    encoded = single_chunk_bytes(arr.async_array, values)
    assert encoded is not None, "the direct single-chunk encoder is off on this zarr"
    arr[...] = values
    key = f"a/{encoded[0]}"
    assert encoded[1].to_bytes() == _stored(store, key)
    decoded = decode_single_chunk(arr.metadata, encoded[1], api.array_config(arr.async_array))
    assert decoded is not None, "the direct single-chunk decoder is off on this zarr"
    np.testing.assert_array_equal(decoded, values)


@settings(max_examples=20, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 7), crow=st.integers(1, 12), ccol=st.integers(1, 4),
       dtype=st.sampled_from(["uint8", "int32", "float64"]), zarr_format=st.just(3))
def test_chunk_encoder_and_decoder_are_on_and_agree_with_zarr(rows, cols, crow, ccol, dtype, zarr_format):
    """chunk_encoder/chunk_decoder (large writes, numeric reads) run on every chunk of any regular grid; each
    encoded chunk is byte for byte what zarr stores, and decodes back to zarr's values."""
    store = zarr.storage.MemoryStore()
    arr = _array(store, zarr_format=zarr_format, shape=(rows, cols), chunks=(crow, ccol), dtype=dtype)
    values = (np.arange(rows * cols) % 11 + 1).astype(dtype).reshape(rows, cols)
    arr[...] = values
    encode, decode = chunk_encoder(arr.async_array), chunk_decoder(arr.async_array)
    assert encode is not None and decode is not None, "the direct chunk encoder/decoder is off on this zarr"
    last = ((rows - 1) // crow, (cols - 1) // ccol)  # an edge chunk: padded with the fill value
    region = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(last, (crow, ccol), (rows, cols)))
    key, chunk = encode(last, values[region])
    assert chunk.to_bytes() == _stored(store, f"a/{key}")
    out = decode(chunk).reshape(crow, ccol)
    np.testing.assert_array_equal(out[: region[0].stop - region[0].start, : region[1].stop - region[1].start],
                                  values[region])


def test_zarrs_own_codecs_encode_and_decode_synchronously():
    """Every codec zarr ships (bytes, blosc, zstd, gzip, crc32c, transpose) has the sync hooks the direct
    paths call."""
    from zarr.codecs import BytesCodec, Crc32cCodec, GzipCodec, TransposeCodec

    assert api.zarr_codecs_run_sync()
    ours = (BytesCodec(), BloscCodec(), ZstdCodec(), GzipCodec(), Crc32cCodec(), TransposeCodec(order=(1, 0)))
    assert api.codecs_run_sync(ours, "encode") and api.codecs_run_sync(ours, "decode")


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_chunk_spec_and_array_config_are_zarrs(zarr_format):
    """chunk_spec (metadata.get_chunk_spec up to zarr 3.3, ArraySpec since 3.4) and array_config (the
    AsyncArray's ``_config``) describe a chunk as zarr does."""
    arr = _array(zarr.storage.MemoryStore(), zarr_format=zarr_format, shape=(10, 3), chunks=(4, 3))
    assert isinstance(arr.metadata, api.ArrayV2Metadata if zarr_format == 2 else api.ArrayV3Metadata)
    config = api.array_config(arr.async_array)
    assert isinstance(config, api.ArrayConfig) and config.order == "C"
    spec = api.chunk_spec(arr.metadata, (2, 0), config, default_buffer_prototype())
    assert isinstance(spec, api.ArraySpec)
    assert spec.shape == (4, 3) and spec.fill_value == 0 and spec.config == config
    assert spec.dtype.to_native_dtype() == np.dtype("int16")


def test_sharded_arrays_are_encoded_as_zarr_does_or_left_to_zarr():
    """Sharding runs synchronously from zarr 3.4 (the direct encoder then writes zarr's own shard bytes);
    before, the direct paths decline (None) without calling the fast path off."""
    store = zarr.storage.MemoryStore()
    arr = _array(store, zarr_format=3, shape=(16,), chunks=(4,), shards=(8,))
    values = np.arange(16, dtype="int16")
    arr[...] = values
    encode = chunk_encoder(arr.async_array)
    if not api.codecs_run_sync(arr.metadata.codecs, "encode"):
        assert encode is None and chunk_decoder(arr.async_array) is None
        return
    key, shard = encode((1,), values[8:])
    assert shard.to_bytes() == _stored(store, f"a/{key}")
    np.testing.assert_array_equal(chunk_decoder(arr.async_array)(shard), values[8:])


def test_a_lost_capability_warns_once(monkeypatch):
    """When zarr's internals no longer build a chunk spec, the fast path warns once per process, then stays
    quiet (and the callers use zarr's own path)."""
    monkeypatch.setattr(api, "_WARNED", set())
    broken = type("Metadata", (), {"shape": (3,), "chunk_grid": type("G", (), {"chunk_shape": (3,)})(),
                                   "codecs": (zarr.codecs.BytesCodec(),)})()  # no dtype: spec cannot be built
    with pytest.warns(api.FastPathOffWarning, match="direct chunk encoding and decoding"):
        assert decode_single_chunk(broken, None, api.ArrayConfig.from_dict({})) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode_single_chunk(broken, None, api.ArrayConfig.from_dict({})) is None


# --- checked v3 codecs (a _decode_sync override) ---------------------------------------------------
@pytest.mark.parametrize("codec", [BloscCodec(), ZstdCodec()])
def test_checked_codecs_check_on_zarrs_async_read_path(tmp_path, codec):
    """sync_decode_override: zarr's Blosc/Zstd decode through ``_decode_sync`` on its async read path too,
    so a chunk declaring far more bytes than the array's chunk holds is refused before it is decoded."""
    store = zarr.storage.LocalStore(tmp_path)
    arr = zarr.create_array(store, name="a", shape=(64,), chunks=(64,), dtype="uint8", compressors=[codec])
    arr[...] = np.arange(64, dtype="uint8")
    big = zarr.create_array(zarr.storage.MemoryStore(), shape=(4096,), chunks=(4096,), dtype="uint8",
                            compressors=[codec])
    big[...] = 1
    (tmp_path / "a" / "c" / "0").write_bytes(_stored(big.store, "c/0"))  # 4096 bytes declared, 64 expected
    checked = dataclasses.replace(arr.metadata, codecs=checked_v3_codecs(tuple(arr.metadata.codecs)))
    reader = zarr.AsyncArray(metadata=checked, store_path=arr.async_array.store_path)
    with pytest.raises(ChunkSizeError, match="declares 4096 bytes"):
        api.sync(reader.getitem(...))


# --- numcodecs wrappers ------------------------------------------------------------------------------
def test_zarr_numcodecs_wrapper_base_is_zarrs():
    """codec_map builds ``numcodecs.<id>`` codecs for ids zarr does not wrap on zarr's own wrapper base."""
    module = api.zarr_numcodecs_codecs()
    assert issubclass(module.Zlib, api.NumcodecsBytesBytesCodec)
    from nwbzarr.format.codec_map import ensure_codecs_known

    ensure_codecs_known([{"name": "numcodecs.zlib", "configuration": {"level": 1}}])
    arr = zarr.create_array(zarr.storage.MemoryStore(), shape=(50,), chunks=(10,), dtype="int32",
                            compressors=[module.Zlib(level=1)])
    arr[...] = np.arange(50)
    np.testing.assert_array_equal(arr[...], np.arange(50))


# --- bounded concurrency -------------------------------------------------------------------------------
def test_bounded_map_keeps_order_and_zarrs_concurrency():
    """bounded_map (zarr.core.common.concurrent_map) returns results in item order, at most zarr's
    ``async.concurrency`` at a time."""
    running, peak = 0, 0

    async def work(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (i % 3))
        running -= 1
        return i * i

    with zarr.config.set({"async.concurrency": 3}):
        assert api.sync(api.bounded_map(((i,) for i in range(20)), work)) == [i * i for i in range(20)]
    assert peak == 3


# --- zarr.Array opened lazily --------------------------------------------------------------------------
def test_lazy_zarr_array_is_a_zarr_array_opened_on_first_use():
    """LazyZarrArray: zarr.Array's constructor runs, the array opens once on first use, and zarr.Array's own
    methods (which read the ``_async_array`` field) see the opened array."""
    inner = zarr.create_array(zarr.storage.MemoryStore(), shape=(5,), chunks=(5,), dtype="int8")
    inner[...] = np.arange(5)
    opened = []

    class Lazy(api.LazyZarrArray):
        def _open_async_array(self):
            opened.append(1)
            return inner.async_array

    lazy = Lazy()
    assert isinstance(lazy, zarr.Array) and not opened
    assert lazy.shape == (5,) and lazy.metadata is inner.metadata
    np.testing.assert_array_equal(zarr.Array.__getitem__(lazy, slice(None)), np.arange(5))
    assert opened == [1] and lazy.async_array is inner.async_array


def test_read_datasets_are_zarr_arrays_with_h5py_like_reads(tmp_path):
    """ZarrDataset (a LazyZarrArray): isinstance zarr.Array (hdmf's array checks rely on it), h5py-like
    shape/dtype/len/indexing/__array__."""
    from pynwb import TimeSeries
    from pynwb.testing.mock.file import mock_NWBFile

    from nwbzarr import NWBZarrIO, ZarrDataset

    nwb = mock_NWBFile()
    nwb.add_acquisition(TimeSeries(name="ts", data=np.arange(12.0).reshape(6, 2), unit="m", rate=1.0))
    path = tmp_path / "f.nwb.zarr"
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwb)
    with NWBZarrIO(path, mode="r") as io:
        data = io.read().acquisition["ts"].data
        assert isinstance(data, ZarrDataset) and isinstance(data, zarr.Array)
        assert data.shape == (6, 2) and data.dtype == np.float64 and len(data) == 6
        np.testing.assert_array_equal(data[1:3], [[2.0, 3.0], [4.0, 5.0]])
        np.testing.assert_array_equal(np.asarray(data), np.arange(12.0).reshape(6, 2))
        assert isinstance(data.async_array, zarr.AsyncArray) and data.metadata.shape == (6, 2)


# --- stores -------------------------------------------------------------------------------------------
def test_zip_store_opened_through_private_open(tmp_path):
    """store_is_open/open_store: zarr's ZipStore reports itself closed until ``_open`` runs."""
    path = tmp_path / "z.zip"
    with zarr.storage.ZipStore(path, mode="w") as writer:
        zarr.create_array(writer, name="a", shape=(3,), dtype="int8")[...] = [1, 2, 3]
    store = zarr.storage.ZipStore(path, mode="r")
    assert not api.store_is_open(store)
    api.sync(api.open_store(store))
    assert api.store_is_open(store)
    np.testing.assert_array_equal(zarr.open_array(store, path="a", mode="r")[...], [1, 2, 3])
    store.close()


def test_wrapped_store_is_the_inner_store():
    inner = zarr.storage.MemoryStore()
    assert api.wrapped_store(zarr.storage.WrapperStore(inner)) is inner


# --- hdmf ---------------------------------------------------------------------------------------------
def test_hdmfio_manager_set_after_construction(tmp_path):
    """set_hdmfio_manager: what export does when the destination was opened without a BuildManager."""
    from pynwb import get_manager

    from nwbzarr import NWBZarrIO

    manager = get_manager()
    with NWBZarrIO(tmp_path / "e.nwb.zarr", mode="w") as io:
        assert io.manager is not None
        api.set_hdmfio_manager(io, manager)
        assert io.manager is manager


def test_hdf5io_file_is_the_open_h5py_file(tmp_path):
    from pynwb import NWBHDF5IO
    from pynwb.testing.mock.file import mock_NWBFile

    path = tmp_path / "f.nwb"
    with NWBHDF5IO(path, mode="w") as io:
        io.write(mock_NWBFile())
    with NWBHDF5IO(path, mode="r") as io:
        file = api.hdf5io_file(io)
        assert isinstance(file, h5py.File) and Path(file.filename) == path and "identifier" in file


def test_iterator_block_is_hdmfs_abstract_get_data():
    """iterator_block calls the abstract method hdmf's GenericDataChunkIterator asks subclasses for."""
    from hdmf.data_utils import GenericDataChunkIterator

    assert "_get_data" in GenericDataChunkIterator.__abstractmethods__

    class Ramp(GenericDataChunkIterator):
        def _get_data(self, selection):
            return np.arange(20).reshape(4, 5)[selection]

        def _get_maxshape(self):
            return (4, 5)

        def _get_dtype(self):
            return np.dtype(int)

    block = api.iterator_block(Ramp(), (slice(1, 3), slice(0, 2)))
    np.testing.assert_array_equal(block, [[5, 6], [10, 11]])
    assert [c.data.shape for c in Ramp(buffer_shape=(2, 5), chunk_shape=(2, 5))] == [(2, 5), (2, 5)]


# --- where private API may be used -----------------------------------------------------------------------
PRIVATE_USES = re.compile(r"zarr\.core|_encode_sync|_decode_sync|_HDMFIO__|_NumcodecsBytesBytesCodec|"
                          r"""numcodecs import _codecs|\._async_array\b|\._config\b(?!\()|\._get_data\(|['"]_store['"]|(?<!self|ther)\._store\b""")


def test_private_api_lives_in_one_module():
    """No module but nwbzarr._private_api uses the zarr/hdmf internals it wraps."""
    found = [f"{p.relative_to(SRC)}:{n}: {line.strip()}" for p in sorted(SRC.rglob("*.py"))
             if p.name != "_private_api.py"
             for n, line in enumerate(p.read_text().splitlines(), 1) if PRIVATE_USES.search(line)]
    assert not found, "\n".join(found)


def test_private_api_is_the_lowest_layer():
    """_private_api imports libraries and nwbzarr.errors only (every layer may import it)."""
    tree = ast.parse((SRC / "_private_api.py").read_text())
    inner = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             if node.level or (node.module or "").startswith("nwbzarr")]
    assert all(m in ("errors", "nwbzarr.errors") for m in inner), inner
