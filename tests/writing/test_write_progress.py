"""``ZarrIO.show_progress``: ONE bar in bytes per write, advanced by every writer of it (in-memory values,
block-wise iterators in this process or in worker processes, plain iterators chunk by chunk), ending at 100%."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pytest
from hdmf.data_utils import DataChunkIterator
from pynwb import NWBFile, TimeSeries
from tests.parallel.iterators import ArrayIterator

from nwbzarr import NWBZarrIO
from nwbzarr.backend.dataio import ZarrDataIO

pytestmark = pytest.mark.timeout(120)


def nwbfile() -> NWBFile:
    nwb = NWBFile(session_description="p", identifier="p", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    blockwise = np.arange(4000 * 8, dtype="f8").reshape(4000, 8)
    nwb.add_acquisition(TimeSeries(name="blocks", unit="m", rate=1.0, data=ZarrDataIO(
        ArrayIterator(blockwise, buffer_shape=(500, 8), chunk_shape=(250, 8)), chunks=(250, 8))))
    nwb.add_acquisition(TimeSeries(name="plain", unit="m", rate=1.0,
                                   data=DataChunkIterator(data=iter(np.arange(3000.0)), buffer_size=400)))
    nwb.add_acquisition(TimeSeries(name="values", unit="m", rate=1.0, data=np.arange(1000, dtype="i4")))
    return nwb


def bar_renders(err: str) -> list[str]:
    return [line.strip() for line in re.split(r"[\r\n]", err) if "%|" in line or line.strip().startswith("write:")]


@pytest.mark.parametrize("jobs", [1, 2])
def test_one_bar_over_values_and_iterators_ends_at_100_percent(tmp_path, capsys, monkeypatch, jobs) -> None:
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    with NWBZarrIO(tmp_path / "p.nwb.zarr", mode="w") as io:
        io.show_progress = True
        io.write(nwbfile(), number_of_jobs=jobs, multiprocessing_context="fork")
        assert io.write_bar is None  # closed with the write
    renders = bar_renders(capsys.readouterr().err)
    assert renders and all(r.startswith("write:") for r in renders)  # one bar, no per-dataset ones
    last = renders[-1]
    counts = re.search(r"\| ([\d.]+k?)/([\d.]+k?) ", last)
    assert last.startswith("write: 100%|") and counts and counts[1] == counts[2], last
    total = 4000 * 8 * 8 + 3000 * 8 + 1000 * 4  # the three datasets' decoded bytes, and a few small ones
    assert float(counts[2].rstrip("k")) * (1024 if counts[2].endswith("k") else 1) >= 0.99 * total
    with NWBZarrIO(tmp_path / "p.nwb.zarr", mode="r") as io:
        np.testing.assert_array_equal(io.read().acquisition["plain"].data[:], np.arange(3000.0))


def test_without_show_progress_a_write_prints_nothing(tmp_path, capsys) -> None:
    with NWBZarrIO(tmp_path / "q.nwb.zarr", mode="w") as io:
        io.write(nwbfile())
    assert capsys.readouterr().err == ""
