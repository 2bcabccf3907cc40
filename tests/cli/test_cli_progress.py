"""Progress on the command line (issue 18, point 4), through the real ``nwbzarr`` entry point in a subprocess:
no bar when stderr is piped, ``--progress`` forces one bar per long operation that ends at 100%, ``--quiet``
(= ``--no-progress``, ``-q``) leaves stderr empty, ``TQDM_DISABLE=1`` turns bars off."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import nwbzarr

pytestmark = pytest.mark.timeout(300)

SRC = str(Path(nwbzarr.__file__).resolve().parents[1])  # the nwbzarr under test (PYTHONPATH)
SAMPLE = str(Path(nwbzarr.__file__).parent / "data" / "sample.nwb")
BIG_ROWS = 500_000  # 500_000 x 10 float64 = 38 MiB: above PARALLEL_COPY_BYTES, so --jobs 2 sends it to the pool
BAR = re.compile(r"^(?P<desc>[a-z]+): +(?P<pct>\d+)%\|[^|]*\| (?P<n>[\d.]+[kMG]?)/(?P<total>[\d.]+[kMG]?)")


def entry_point() -> list[str]:
    """The installed ``nwbzarr`` console script beside this Python (else the same entry function via -m)."""
    script = Path(sys.executable).parent / "nwbzarr"
    return [str(script)] if script.exists() else [sys.executable, "-m", "nwbzarr.cli"]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}
    environ.update({"PYTHONPATH": SRC + os.pathsep + environ.get("PYTHONPATH", ""), **(env or {})})
    result = subprocess.run([*entry_point(), *args], capture_output=True, text=True, env=environ, cwd=cwd,
                            timeout=240)
    assert result.returncode == 0, result.stderr
    return result


def bars(stderr: str) -> list[re.Match]:
    """Every rendering of a bar with a total, in order (tqdm redraws with carriage returns)."""
    return [m for line in re.split(r"[\r\n]", stderr) if (m := BAR.match(line.strip()))]


def final_bar(stderr: str) -> re.Match:
    """The last rendering; exactly one bar (one description) is drawn per command."""
    found = bars(stderr)
    assert found, f"no progress bar in stderr: {stderr!r}"
    assert len({m["desc"] for m in found}) == 1, f"more than one bar: {sorted({m['desc'] for m in found})}"
    return found[-1]


def assert_complete(stderr: str) -> re.Match:
    last = final_bar(stderr)
    assert last["pct"] == "100" and last["n"] == last["total"], last.group(0)
    return last


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The bundled sample, its Zarr copy, and an NWB file with one dataset large enough for the pool."""
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    from nwbzarr.convert import convert

    root = tmp_path_factory.mktemp("progress")
    sample = root / "sample.nwb"
    shutil.copy(SAMPLE, sample)
    convert(sample, root / "sample.nwb.zarr")
    nwb = NWBFile(session_description="big", identifier="big", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    data = np.arange(BIG_ROWS * 10, dtype="f8").reshape(BIG_ROWS, 10)
    nwb.add_acquisition(TimeSeries(name="big", data=H5DataIO(data, chunks=(50_000, 10)), unit="uV", rate=1.0))
    nwb.add_acquisition(TimeSeries(name="small", data=np.arange(300.0), unit="uV", rate=1.0))
    with NWBHDF5IO(str(root / "big.nwb"), "w") as io:
        io.write(nwb)
    return {"sample": sample, "zarr": root / "sample.nwb.zarr", "big": root / "big.nwb"}


def commands(files: dict[str, Path], out: Path) -> dict[str, list[str]]:
    """One long operation per command, with a fresh output in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    real = str(files["sample"])
    return {
        "convert-hdf5-zarr": ["convert", real, str(out / "a.nwb.zarr")],
        "convert-zarr-hdf5": ["convert", str(files["zarr"]), str(out / "b.nwb")],
        "convert-jobs": ["convert", str(files["big"]), str(out / "big.nwb.zarr"), "--jobs", "2"],
        "migrate": ["migrate", str(files["zarr"]), str(out / "m.v2.zarr")],
        "truncate-hdf5": ["truncate", real, str(out / "t.nwb"), "-n", "3"],
        "truncate-zarr": ["truncate", str(files["zarr"]), str(out / "t.nwb.zarr"), "-n", "3"],
        "graph": ["graph", real, "-o", str(out / "g.json")],
        "refs": ["refs", str(files["zarr"]), "/acquisition"],
        "demo": ["demo", "--output", str(out / "demo.nwb.zarr")],
    }


OPERATIONS = ["convert-hdf5-zarr", "convert-zarr-hdf5", "convert-jobs", "migrate", "truncate-hdf5",
              "truncate-zarr", "graph", "refs", "demo"]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_forced_bar_ends_at_100_percent(files, tmp_path, operation) -> None:
    result = run(*commands(files, tmp_path)[operation], "--progress")
    assert_complete(result.stderr)
    assert "%|" not in result.stdout  # bars go to stderr only


@pytest.mark.parametrize("operation", ["convert-hdf5-zarr", "convert-zarr-hdf5", "migrate", "graph"])
def test_no_bar_when_stderr_is_piped(files, tmp_path, operation) -> None:
    result = run(*commands(files, tmp_path)[operation])
    assert not bars(result.stderr) and "%|" not in result.stderr, result.stderr


@pytest.mark.parametrize("flag", ["--quiet", "-q", "--no-progress"])
@pytest.mark.parametrize("operation", ["convert-hdf5-zarr", "convert-zarr-hdf5", "migrate", "truncate-zarr"])
def test_quiet_prints_no_bar_and_no_informational_line(files, tmp_path, operation, flag) -> None:
    loud = run(*commands(files, tmp_path / "loud")[operation], "--progress")
    quiet = run(*commands(files, tmp_path / "quiet")[operation], flag)
    assert quiet.stderr == ""
    assert quiet.stdout.replace(str(tmp_path / "quiet"), "") == loud.stdout.replace(str(tmp_path / "loud"), "")


def test_conversion_names_itself_on_stderr_unless_quiet(files, tmp_path) -> None:
    result = run("convert", str(files["sample"]), str(tmp_path / "x.nwb.zarr"))
    assert result.stderr.strip() == f"converting {files['sample']} -> {tmp_path / 'x.nwb.zarr'}"
    assert result.stdout.strip() == f"wrote {tmp_path / 'x.nwb.zarr'}"


@pytest.mark.parametrize("value", ["1", "True", "yes"])
def test_tqdm_disable_turns_the_forced_bar_off(files, tmp_path, value) -> None:
    result = run(*commands(files, tmp_path)["convert-zarr-hdf5"], "--progress", env={"TQDM_DISABLE": value})
    assert not bars(result.stderr) and "%|" not in result.stderr, result.stderr


def test_jobs_bar_counts_the_pool_copied_dataset(files, tmp_path) -> None:
    """With --jobs 2 the large dataset is copied by worker processes, and the one bar counts its bytes: the
    same total as the serial conversion (38 MiB, not only the small datasets), reached at the end."""
    serial = assert_complete(run("convert", str(files["big"]), str(tmp_path / "s.zarr"), "--progress").stderr)
    jobs = assert_complete(run(*commands(files, tmp_path)["convert-jobs"], "--progress").stderr)
    assert jobs["total"] == serial["total"]
    assert jobs["total"].endswith("M") and float(jobs["total"][:-1]) >= 0.99 * BIG_ROWS * 10 * 8 / 2**20


def test_real_files_convert_with_a_complete_bar(shared_data, tmp_path) -> None:
    for path in sorted((shared_data / "real").glob("*.nwb"))[:3]:
        zarr = tmp_path / (path.name + ".zarr")
        assert_complete(run("convert", str(path), str(zarr), "--progress").stderr)
        assert_complete(run("convert", str(zarr), str(tmp_path / path.name), "--progress").stderr)


def test_every_command_accepts_the_progress_options() -> None:
    names = ["convert", "info", "demo", "graph", "refs", "truncate", "specs", "migrate", "verify", "manifest"]
    for name in names:
        text = run(name, "--help", env={"COLUMNS": "200"}).stdout
        assert "--progress" in text and "--no-progress" in text and "--quiet" in text, name
