"""``nwbzarr convert --jobs N``: large HDF5 datasets copied by the process pool, byte for byte as serially."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hdmf.backends.hdf5 import H5DataIO
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from typer.testing import CliRunner
from zarr.storage import LocalStore

import nwbzarr.parallel_copy as parallel_copy
from nwbzarr import NWBZarrIO
from nwbzarr.cli import app
from nwbzarr.convert import convert

from .conftest import dump, sample_data

pytestmark = pytest.mark.timeout(120)

SERIES = {"gzip": {"compression": "gzip", "chunks": (32, 70)}, "contiguous": {}, "small": {}}


@pytest.fixture
def hdf5_file(tmp_path):
    path = tmp_path / "rec.nwb"
    nwb = NWBFile(session_description="c", identifier="c", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    for name, options in SERIES.items():
        data = sample_data((40, 7) if name == "small" else (600, 70))
        nwb.add_acquisition(TimeSeries(name=name, data=H5DataIO(data, **options), unit="uV", rate=1.0))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_jobs_copy_is_byte_identical_to_serial(hdf5_file, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(parallel_copy, "PARALLEL_COPY_BYTES", 64 << 10)  # the 82 KiB series go to the pool
    wrapped: list[int] = []
    real = parallel_copy.wrap_large_datasets

    def spy(builder, min_bytes: int) -> int:
        wrapped.append(real(builder, min_bytes))
        return wrapped[-1]

    monkeypatch.setattr(parallel_copy, "wrap_large_datasets", spy)
    convert(hdf5_file, tmp_path / "serial.zarr")
    convert(hdf5_file, tmp_path / "jobs.zarr", jobs=2)
    assert wrapped == [2]  # gzip and contiguous went to the pool, small did not
    serial, jobs = LocalStore(str(tmp_path / "serial.zarr")), LocalStore(str(tmp_path / "jobs.zarr"))
    for name in SERIES:
        assert _no_mtime(dump(jobs, f"acquisition/{name}/data")) == _no_mtime(dump(serial, f"acquisition/{name}/data"))
    with NWBZarrIO(tmp_path / "jobs.zarr", "r") as io:
        np.testing.assert_array_equal(io.read().acquisition["gzip"].data[:], sample_data((600, 70)))


def test_cli_convert_jobs(hdf5_file, tmp_path) -> None:
    result = CliRunner().invoke(app, ["convert", str(hdf5_file), str(tmp_path / "cli.zarr"), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    with NWBZarrIO(tmp_path / "cli.zarr", "r") as io:
        np.testing.assert_array_equal(io.read().acquisition["contiguous"].data[:], sample_data((600, 70)))


def test_bad_jobs_is_refused_before_writing(hdf5_file, tmp_path) -> None:
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        convert(hdf5_file, tmp_path / "never.zarr", jobs=0)
    assert not (tmp_path / "never.zarr").exists()


def _no_mtime(found: dict[str, bytes]) -> dict[str, bytes]:
    """gzip members carry their creation time (bytes 4-7): two serial copies differ there too."""
    return {k: v[:4] + b"\0\0\0\0" + v[8:] if v[:2] == b"\x1f\x8b" else v for k, v in found.items()}
