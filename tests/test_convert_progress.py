"""``convert(progress=...)`` both ways: one bar in bytes on stderr that ends at 100% even where only some chunks
are stored (sparse datasets copied chunk by chunk), nothing at all with ``progress=False``."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import h5py
import numpy as np
import pytest
from hdmf.backends.hdf5 import H5DataIO
from hdmf.data_utils import AbstractDataChunkIterator, DataChunk
from pynwb import NWBHDF5IO, NWBFile, TimeSeries

import nwbzarr.convert as convert_module
from nwbzarr import NWBZarrIO
from nwbzarr.convert import convert

ROWS, CHUNK = 20_000, 1_000
STORED = (0, 7, 19)  # the only chunks written


class SparseChunks(AbstractDataChunkIterator):
    """Writes three chunks of a 20-chunk dataset: HDF5 leaves the others unallocated."""

    def __init__(self) -> None:
        self._chunks = iter(STORED)

    def __iter__(self) -> SparseChunks:
        return self

    def __next__(self) -> DataChunk:
        i = next(self._chunks)
        return DataChunk(np.full(CHUNK, i + 1.0), selection=np.s_[i * CHUNK:(i + 1) * CHUNK])

    def recommended_chunk_shape(self) -> tuple[int, ...]:
        return (CHUNK,)

    def recommended_data_shape(self) -> tuple[int, ...]:
        return (ROWS,)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype("f8")

    @property
    def maxshape(self) -> tuple[int, ...]:
        return (ROWS,)


def expected_values() -> np.ndarray:
    values = np.zeros(ROWS)
    for i in STORED:
        values[i * CHUNK:(i + 1) * CHUNK] = i + 1.0
    return values


@pytest.fixture
def sparse_nwb(tmp_path):
    path = tmp_path / "sparse.nwb"
    nwb = NWBFile(session_description="s", identifier="s", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    nwb.add_acquisition(TimeSeries(name="sparse", data=H5DataIO(SparseChunks(), chunks=(CHUNK,)), unit="m",
                                   rate=1.0))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with h5py.File(path, "r") as f:
        assert f["acquisition/sparse/data"].id.get_num_chunks() == len(STORED)  # really sparse
    return path


def final_render(err: str) -> str:
    renders = [line.strip() for line in re.split(r"[\r\n]", err) if "%|" in line]
    assert renders, f"no bar in {err!r}"
    return renders[-1]


def assert_complete(err: str) -> None:
    last = final_render(err)
    counts = re.search(r"\| ([\d.]+[kMG]?)/([\d.]+[kMG]?) ", last)
    assert last.startswith("write: 100%|") and counts and counts[1] == counts[2], last


def test_sparse_dataset_both_ways_ends_at_100_percent(sparse_nwb, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    convert(sparse_nwb, tmp_path / "s.nwb.zarr", progress=True)
    assert_complete(capsys.readouterr().err)
    monkeypatch.setattr(convert_module, "WHOLE_COPY_BYTES", 1024)  # the way back copies chunk by chunk
    convert(tmp_path / "s.nwb.zarr", tmp_path / "back.nwb", progress=True)
    err = capsys.readouterr().err
    assert_complete(err)
    assert err.splitlines()[0] == f"converting {tmp_path / 's.nwb.zarr'} -> {tmp_path / 'back.nwb'}"
    with h5py.File(tmp_path / "back.nwb", "r") as f:
        np.testing.assert_array_equal(f["acquisition/sparse/data"][...], expected_values())
        assert f["acquisition/sparse/data"].id.get_num_chunks() == len(STORED)  # still sparse
    with NWBZarrIO(tmp_path / "s.nwb.zarr", "r") as io:
        np.testing.assert_array_equal(io.read().acquisition["sparse"].data[:], expected_values())


def test_no_progress_prints_nothing(sparse_nwb, tmp_path, capsys) -> None:
    convert(sparse_nwb, tmp_path / "s.nwb.zarr", progress=False)
    convert(tmp_path / "s.nwb.zarr", tmp_path / "back.nwb", progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_auto_progress_is_off_when_stderr_is_not_a_terminal(sparse_nwb, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    convert(sparse_nwb, tmp_path / "s.nwb.zarr", progress=None)
    convert(tmp_path / "s.nwb.zarr", tmp_path / "back.nwb", progress=None)
    err = capsys.readouterr().err
    assert "%|" not in err and err.count("converting ") == 2
