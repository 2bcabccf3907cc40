"""Worker processes of ``write(..., number_of_jobs=2)`` end when their parent is killed (SIGKILL) mid-write;
the appended dataset stays marked incomplete, the data written before stays intact, the writer lock is free."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from nwbzarr import NWBZarrIO
from nwbzarr.parallel import INCOMPLETE_ATTR

from .conftest import nwbfile

pytestmark = [pytest.mark.timeout(180), pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")]

SCRIPT = Path(__file__).with_name("_slow_append.py")
EARLY = np.arange(60, dtype="int32").reshape(20, 3)


def _start_append(store: Path, markers: Path, context: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(SCRIPT), str(store), str(markers), context], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_workers(parent: subprocess.Popen, markers: Path, timeout: float = 90) -> set[int]:
    """The pids of at least two workers that have started writing blocks."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = {int(p.name) for p in markers.iterdir()} - {parent.pid}
        if len(pids) >= 2:
            return pids
        if parent.poll() is not None:
            raise AssertionError(f"the writer ended early: {parent.communicate()[1].decode()[-2000:]}")
        time.sleep(0.1)
    raise AssertionError("the workers never started writing")


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for a reaper."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _survivors(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = {pid for pid in pids if _alive(pid)}
        if not alive:
            return set()
        time.sleep(0.1)
    return {pid for pid in pids if _alive(pid)}


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_killing_the_parent_ends_its_workers_and_keeps_earlier_data(tmp_path, context) -> None:
    store = tmp_path / "killed.nwb.zarr"
    markers = tmp_path / "markers"
    markers.mkdir()
    with NWBZarrIO(store, mode="w") as io:
        io.write(nwbfile({"early": EARLY}))
    parent = _start_append(store, markers, context)
    descendants: set[int] = set()
    try:
        workers = _wait_for_workers(parent, markers)
        descendants = {p.pid for p in psutil.Process(parent.pid).children(recursive=True)}
        assert workers <= descendants
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        assert _survivors(descendants, 5.0) == set(), "worker processes outlived their killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in descendants:  # a failed run must not leave its workers behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    meta = json.loads((store / "acquisition" / "slow" / "data" / "zarr.json").read_text())
    assert meta["attributes"][INCOMPLETE_ATTR] is True
    for mode in ("r", "r-"):
        with NWBZarrIO(store, mode=mode) as io:
            np.testing.assert_array_equal(io.read().acquisition["early"].data[:], EARLY)
    with NWBZarrIO(store, mode="a") as io:  # no orphan holds the writer lock
        assert "early" in io.read().acquisition
