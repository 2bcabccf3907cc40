"""Reading slices of stored arrays: small reads of a local directory in the calling thread, larger ones
in the codec pool (each thread reads, decodes and places whole chunks), other stores through zarr's event
loop; every path gives the same values, edge chunks and missing chunks included."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import zarr
from pynwb import NWBFile, TimeSeries
from zarr.codecs import ZstdCodec

from nwbzarr import NWBZarrIO, ZarrDataIO
from nwbzarr.backend import chunk_reads

DATA = (np.arange(3 * 1000, dtype="int32").reshape(1000, 3) * 7) % 1013


@pytest.fixture
def stored(tmp_path):
    nwb = NWBFile(session_description="reads", identifier="reads", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    big = np.tile(DATA, (400, 1))  # 400,000 x 3 int32: above the read-whole-array size
    nwb.add_acquisition(TimeSeries(name="ts", data=ZarrDataIO(big, chunks=(4096, 3)), unit="u", rate=1.0))
    path = tmp_path / "r.nwb.zarr"
    with NWBZarrIO(str(path), mode="w") as io:
        io.write(nwb)
    (path / "acquisition" / "ts" / "data" / "c" / "2" / "0").unlink()  # a missing chunk reads as fill
    expected = big.copy()
    expected[2 * 4096:3 * 4096] = 0
    return path, expected


PATHS = ("_fill_here", "_fill_in_pool", "_fill_from_chunks")


def _count_paths(monkeypatch) -> dict[str, int]:
    calls = dict.fromkeys(PATHS, 0)
    for name in PATHS:
        original = getattr(chunk_reads, name)
        if name == "_fill_from_chunks":
            async def counted(*a, _o=original, _n=name):
                calls[_n] += 1
                await _o(*a)
        else:
            def counted(*a, _o=original, _n=name):
                calls[_n] += 1
                return _o(*a)
        monkeypatch.setattr(chunk_reads, name, counted)
    return calls


@pytest.mark.parametrize("key", [np.s_[10:20], np.s_[4000:4200], np.s_[8190:8200], np.s_[-5:],
                                 np.s_[100:9000], np.s_[123], np.s_[8192:12288, 1], np.s_[:, 2]])
def test_slices_read_the_same_on_every_path(stored, key, monkeypatch) -> None:
    path, expected = stored
    calls = _count_paths(monkeypatch)
    with NWBZarrIO(str(path), mode="r") as io:
        data = io.read().acquisition["ts"].data
        np.testing.assert_array_equal(data[key], expected[key])
    assert sum(calls.values()) == 1


def _refuse_event_loop(monkeypatch) -> None:
    async def refuse(*a):
        raise AssertionError("a read of a local directory went through the event loop")

    monkeypatch.setattr(chunk_reads, "_fill_from_chunks", refuse)


def test_small_reads_skip_the_event_loop(stored, monkeypatch) -> None:
    path, expected = stored
    _refuse_event_loop(monkeypatch)
    calls = _count_paths(monkeypatch)
    with NWBZarrIO(str(path), mode="r") as io:
        data = io.read().acquisition["ts"].data
        np.testing.assert_array_equal(data[5000:5010], expected[5000:5010])
    assert calls["_fill_here"] == 1


def test_many_chunks_are_read_and_decoded_in_the_pool(stored, monkeypatch) -> None:
    path, expected = stored
    _refuse_event_loop(monkeypatch)
    calls = _count_paths(monkeypatch)
    with NWBZarrIO(str(path), mode="r") as io:
        data = io.read().acquisition["ts"].data
        for key in (np.s_[100:20000], np.s_[:], np.s_[3:399_997, 1:]):  # the missing chunk among them
            np.testing.assert_array_equal(data[key], expected[key])
    assert calls["_fill_in_pool"] == 3


@pytest.mark.parametrize("compressors", [None, False, [ZstdCodec(level=1)]], ids=["blosc", "raw", "zstd"])
def test_pool_reads_of_every_codec_match_zarr(tmp_path, compressors, monkeypatch) -> None:
    """The pool decodes blosc into reused buffers and other codecs through zarr's: the values are zarr's."""
    values = np.random.default_rng(3).normal(size=(5000, 7)).astype("float32")
    nwb = NWBFile(session_description="reads", identifier="codecs",
                  session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    kwargs = {} if compressors is None else {"compressors": compressors}
    nwb.add_acquisition(TimeSeries(name="ts", data=ZarrDataIO(values, chunks=(600, 3), **kwargs),
                                   unit="u", rate=1.0))
    path = tmp_path / "c.nwb.zarr"
    with NWBZarrIO(str(path), mode="w") as io:
        io.write(nwb)
    _refuse_event_loop(monkeypatch)
    with NWBZarrIO(str(path), mode="r") as io:
        data = io.read().acquisition["ts"].data
        stored = zarr.open_array(str(path / "acquisition" / "ts" / "data"), mode="r")
        for key in (np.s_[:], np.s_[599:3601, 1:6], np.s_[4999, :]):
            np.testing.assert_array_equal(data[key], stored[key])
            np.testing.assert_array_equal(data[key], values[key])


def test_a_damaged_chunk_read_in_the_pool_is_named(stored) -> None:
    path, _ = stored
    chunk = path / "acquisition" / "ts" / "data" / "c" / "1" / "0"
    chunk.write_bytes(chunk.read_bytes()[:-10])  # truncated
    with NWBZarrIO(str(path), mode="r") as io:
        data = io.read().acquisition["ts"].data
        with pytest.raises(Exception, match="c/1/0") as err:
            data[100:9000]
        assert "/acquisition/ts/data" in str(err.value)
        np.testing.assert_array_equal(data[:4096], np.tile(DATA, (400, 1))[:4096])  # the others still read


def test_a_short_uncompressed_chunk_read_in_the_pool_is_named(tmp_path) -> None:
    """Uncompressed chunks are read in place: one of the wrong size is refused and named, not reshaped."""
    values = np.arange(200_000, dtype="int64").reshape(100_000, 2)  # above the read-whole-array size
    nwb = NWBFile(session_description="reads", identifier="raw",
                  session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    nwb.add_acquisition(TimeSeries(name="ts", data=ZarrDataIO(values, chunks=(20_000, 2), compressors=False),
                                   unit="u", rate=1.0))
    path = tmp_path / "raw.nwb.zarr"
    with NWBZarrIO(str(path), mode="w") as io:
        io.write(nwb)
    chunk = path / "acquisition" / "ts" / "data" / "c" / "3" / "0"
    chunk.write_bytes(chunk.read_bytes()[:-8])
    with NWBZarrIO(str(path), mode="r") as io:
        data = io.read().acquisition["ts"].data
        with pytest.raises(Exception, match="c/3/0"):
            data[:]
        np.testing.assert_array_equal(data[:40_000], values[:40_000])
