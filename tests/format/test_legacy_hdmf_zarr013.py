"""Legacy stores written by nwbzarr are read by hdmf-zarr 0.13 itself (zarr 2), without unsafe pickle.

hdmf-zarr 0.13 needs zarr < 3 and numcodecs < 0.16, so it runs in its own virtual environment, built
once and cached under ``~/.cache/nwbzarr-test-venvs/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import venv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.ecephys import ElectricalSeries

from nwbzarr import NWBZarrIO
from nwbzarr.convert import convert

VENV = Path.home() / ".cache" / "nwbzarr-test-venvs" / "hdmf-zarr-0.13.0"
READY = VENV / ".nwbzarr-ready"
REQUIREMENTS = ["hdmf-zarr==0.13.0", "zarr<3", "numcodecs<0.16"]
UNREACHABLE = ("No matching distribution", "Could not find a version", "Failed to establish a new connection",
               "Temporary failure in name resolution", "Network is unreachable", "ConnectionError",
               "Max retries exceeded")

READER = textwrap.dedent('''
    import os, sys
    assert "NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE" not in os.environ
    import numcodecs.pickles
    assert not numcodecs.pickles.ALLOW_UNSAFE_PICKLE_DECODE
    import hdmf_zarr, zarr
    assert hdmf_zarr.__version__.startswith("0.13"), hdmf_zarr.__version__
    assert zarr.__version__.startswith("2."), zarr.__version__
    from hdmf.testing import TestCase
    from hdmf_zarr.nwb import NWBZarrIO
    from pynwb import NWBHDF5IO
    with NWBZarrIO(sys.argv[1], "r") as zio, NWBHDF5IO(sys.argv[2], "r") as hio:
        z, h = zio.read(), hio.read()
        TestCase().assertContainerEqual(z, h, ignore_hdmf_attrs=True)
        if z.epochs is not None:
            rows = z.epochs["timeseries"][:]
            print("epochs", [(r[0][0], r[0][1], r[0][2].name) for r in rows])
        if z.electrodes is not None:
            print("groups", [g.name for g in z.electrodes["group"][:]])
    print("READ-OK")
''')


def _python() -> Path:
    return VENV / "bin" / "python"


@pytest.fixture(scope="module")
def hdmf_zarr_013(file_lock) -> Path:
    """The cached virtual environment with hdmf-zarr 0.13 (built on first use, by one xdist worker at a time)."""
    if READY.exists() and _python().exists():
        return _python()
    with file_lock(VENV.parent / f".{VENV.name}.lock"):
        return _build_hdmf_zarr_013()


def _build_hdmf_zarr_013() -> Path:
    if READY.exists() and _python().exists():  # another worker built it while this one waited
        return _python()
    if not _python().exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    result = subprocess.run([str(_python()), "-m", "pip", "install", "-q", *REQUIREMENTS],
                            capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        if any(marker in output for marker in UNREACHABLE):
            pytest.skip(f"cannot build the hdmf-zarr 0.13 environment: package index unreachable ({output[-300:]})")
        raise AssertionError(f"pip install {' '.join(REQUIREMENTS)} failed:\n{output[-3000:]}")
    READY.write_text(" ".join(REQUIREMENTS))
    return _python()


def _read_with_013(python: Path, store: Path, hdf5: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMCODECS", "PYTHON"))}
    script = store.parent / "read013.py"
    script.write_text(READER)
    result = subprocess.run([str(python), str(script), str(store), str(hdf5)], capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0 and "READ-OK" in result.stdout, result.stdout + result.stderr[-4000:]
    return result.stdout


def _nwbfile() -> NWBFile:
    nwb = NWBFile(session_description="for hdmf-zarr 0.13", identifier="compat-1",
                  session_start_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
                  file_create_date=datetime(2024, 1, 2, 4, tzinfo=UTC),
                  keywords=["a", "b"], experimenter=["Doe, Jane"])
    device = nwb.create_device("probe")
    shanks = [nwb.create_electrode_group(f"shank{i}", description="s", location="CA1", device=device)
              for i in range(2)]
    for i in range(3):
        nwb.add_electrode(group=shanks[i % 2], location="CA1")
    region = nwb.create_electrode_table_region([0, 2], "two electrodes")
    es = ElectricalSeries(name="es", data=np.arange(20, dtype="int16").reshape(10, 2), electrodes=region,
                          rate=1000.0)
    ts = TimeSeries(name="ts", data=np.linspace(0, 1, 10), unit="m", timestamps=np.arange(10.0))
    nwb.add_acquisition(es)
    nwb.add_acquisition(ts)
    nwb.add_acquisition(TimeSeries(name="linked", data=np.arange(10, dtype="int32"), unit="m", timestamps=ts))
    nwb.add_trial_column("label", "text")
    nwb.add_trial(start_time=0.0, stop_time=1.0, label="first")
    nwb.add_trial(start_time=1.0, stop_time=2.0, label="ü é")
    nwb.add_epoch(0.0, 1.0, ["x"], [ts])
    nwb.add_epoch(1.0, 2.0, ["y", "z"], [es])
    return nwb


def test_hdmf_zarr_013_reads_a_legacy_store_written_by_nwbzarr(hdmf_zarr_013: Path, tmp_path: Path):
    zarr_path, h5_path = tmp_path / "compat.nwb.zarr", tmp_path / "compat.nwb"
    with NWBZarrIO(zarr_path, "w", zarr_format=2) as io:
        io.write(_nwbfile())
    with NWBHDF5IO(h5_path, "w") as io:
        io.write(_nwbfile())
    filters = {line for p in zarr_path.rglob(".zarray") for line in p.read_text().split('"id":')[1:]}
    assert not [f for f in filters if f.startswith('"pickle"')]
    out = _read_with_013(hdmf_zarr_013, zarr_path, h5_path)
    assert "epochs [(0, 1, 'ts'), (1000, 1000, 'es')]" in out
    assert "groups ['shank0', 'shank1', 'shank0']" in out


@pytest.mark.parametrize("name", ["sample", "dci", "sharded"])
def test_hdmf_zarr_013_reads_shared_files_converted_by_nwbzarr(hdmf_zarr_013: Path, shared_data: Path,
                                                               tmp_path: Path, name: str):
    hdf5 = shared_data / "hdf5" / f"{name}.nwb"
    target = tmp_path / f"{name}.nwb.zarr"
    convert(hdf5, target, zarr_format=2)
    _read_with_013(hdmf_zarr_013, target, hdf5)


def test_hdmf_zarr_013_reads_a_store_migrated_to_v2(hdmf_zarr_013: Path, shared_data: Path, tmp_path: Path):
    from nwbzarr.migrate import migrate

    report = migrate(shared_data / "hdmf_zarr_0.14" / "sample.nwb.zarr", tmp_path / "sample.nwb.zarr", "v2",
                     progress=False)
    assert report.ok and report.verified
    _read_with_013(hdmf_zarr_013, tmp_path / "sample.nwb.zarr", shared_data / "hdf5" / "sample.nwb")


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip(reason="the cached venv layout above is POSIX-only")
