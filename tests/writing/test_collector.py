"""The cyclic garbage collector is paused while a write builds its objects and runs while data streams."""

from __future__ import annotations

import gc
import threading
from datetime import UTC, datetime

import numpy as np
import pytest
from hdmf.data_utils import DataChunkIterator
from pynwb import NWBFile, TimeSeries

from nwbzarr import NWBZarrIO
from nwbzarr.backend import write as write_module
from nwbzarr.writing.collector import collector_paused, collector_running


@pytest.fixture(autouse=True)
def collector_on():
    gc.enable()
    yield
    gc.enable()


def test_paused_nested_and_restored() -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
            with collector_running():
                assert gc.isenabled()
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_the_user_turned_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        with collector_running():
            assert not gc.isenabled()
    assert not gc.isenabled()


def test_concurrent_writes_restore_it_once_both_end() -> None:
    inside, release = threading.Barrier(2), threading.Event()

    def write() -> None:
        with collector_paused():
            inside.wait()
            release.wait()

    worker = threading.Thread(target=write)
    worker.start()
    with collector_paused():
        inside.wait()
    assert not gc.isenabled()  # the other write is still building
    release.set()
    worker.join()
    assert gc.isenabled()


def _nwbfile(data) -> NWBFile:
    nwb = NWBFile(session_description="gc", identifier="gc", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    nwb.add_acquisition(TimeSeries(name="ts", data=data, unit="u", rate=1.0))
    return nwb


def test_a_write_pauses_it_for_the_plan_and_runs_it_for_iterators(tmp_path, monkeypatch) -> None:
    seen = {}
    plan = write_module.TreeWriter.build

    def build(self, *a, **k):
        seen["plan"] = gc.isenabled()
        return plan(self, *a, **k)

    monkeypatch.setattr(write_module.TreeWriter, "build", build)

    def chunks():
        for i in range(3):
            seen.setdefault("iterator", []).append(gc.isenabled())
            yield np.full(10, i, dtype="int32")

    with NWBZarrIO(str(tmp_path / "a.nwb.zarr"), mode="w") as io:
        io.write(_nwbfile(DataChunkIterator(chunks(), buffer_size=1)))
    assert seen["plan"] is False
    assert seen["iterator"] and all(seen["iterator"])
    assert gc.isenabled()
    with NWBZarrIO(str(tmp_path / "a.nwb.zarr"), mode="r") as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], np.repeat(np.arange(3), 10).reshape(3, 10))


def test_a_failed_write_restores_it(tmp_path, monkeypatch) -> None:
    def fail(self, *a, **k):
        raise RuntimeError("planning failed")

    monkeypatch.setattr(write_module.TreeWriter, "build", fail)
    with pytest.raises(RuntimeError, match="planning failed"):
        with NWBZarrIO(str(tmp_path / "b.nwb.zarr"), mode="w") as io:
            io.write(_nwbfile(np.arange(5)))
    assert gc.isenabled()
