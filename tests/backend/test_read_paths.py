"""Reading slices of stored arrays: small reads of a local directory in the calling thread, larger ones
through zarr's event loop; both give the same values, edge chunks and missing chunks included."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from pynwb import NWBFile, TimeSeries

from nwbzarr import NWBZarrIO, ZarrDataIO
from nwbzarr.backend import arrays

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


@pytest.mark.parametrize("key", [np.s_[10:20], np.s_[4000:4200], np.s_[8190:8200], np.s_[-5:],
                                 np.s_[100:9000], np.s_[123], np.s_[8192:12288, 1], np.s_[:, 2]])
def test_slices_read_the_same_on_both_paths(stored, key, monkeypatch) -> None:
    path, expected = stored
    calls = {"here": 0, "loop": 0}
    here, loop = arrays._fill_in_this_thread, arrays._fill_from_chunks

    def counted_here(*a):
        done = here(*a)
        calls["here"] += bool(done)
        return done

    async def counted_loop(*a):
        calls["loop"] += 1
        await loop(*a)

    monkeypatch.setattr(arrays, "_fill_in_this_thread", counted_here)
    monkeypatch.setattr(arrays, "_fill_from_chunks", counted_loop)
    with NWBZarrIO(str(path), mode="r") as io:
        data = io.read().acquisition["ts"].data
        np.testing.assert_array_equal(data[key], expected[key])
    assert calls["here"] + calls["loop"] >= 1


def test_small_reads_skip_the_event_loop(stored, monkeypatch) -> None:
    path, expected = stored

    async def refuse(*a):
        raise AssertionError("a one-chunk read went through the event loop")

    monkeypatch.setattr(arrays, "_fill_from_chunks", refuse)
    with NWBZarrIO(str(path), mode="r") as io:
        data = io.read().acquisition["ts"].data
        np.testing.assert_array_equal(data[5000:5010], expected[5000:5010])
