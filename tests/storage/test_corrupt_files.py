"""Damaged store files (issue 14, point 11): a corrupt SQLite page or a truncated HDF5 container raises
``StoreCorruptError`` (a FormatError and an OSError) naming the file and the key or container at fault."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from pynwb import TimeSeries
from pynwb.testing.mock.file import mock_NWBFile
from typer.testing import CliRunner

from nwbzarr import FormatError, NWBZarrIO, ZarrDataIO
from nwbzarr.cli import app
from nwbzarr.migrate import MigrationError, migrate
from nwbzarr.storage import H5ContainerStore
from nwbzarr.storage.errors import StoreCorruptError

ROWS = np.random.default_rng(1).random((4, 5000))  # one uncompressed 40 kB chunk per row: found in the file


def _nwbfile():
    nwb = mock_NWBFile()
    nwb.add_acquisition(TimeSeries(name="ts", unit="m", rate=1.0,
                                   data=ZarrDataIO(ROWS, chunks=(1, 5000), compressors=False)))
    return nwb


@pytest.fixture(scope="module")
def sqlite_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "file.nwb.sqlite"
    with NWBZarrIO(path, mode="w") as io:
        io.write(_nwbfile())
    return path


def _copy(src: Path, dst: Path) -> Path:
    shutil.copy(src, dst)
    return dst


def _damage_page_holding(path: Path, payload: bytes) -> None:
    """Overwrite the first bytes of a page that holds part of ``payload`` (an overflow page of its row)."""
    raw = bytearray(path.read_bytes())
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    offset = raw.find(payload)
    assert offset > 0
    start = (offset // page + 2) * page
    raw[start: start + 4] = b"\xff\xff\xff\x7f"  # next-page pointer far past the end of the file
    path.write_bytes(raw)


def test_corrupt_sqlite_page_of_a_chunk_names_file_and_key(sqlite_file, tmp_path):
    path = _copy(sqlite_file, tmp_path / "damaged.nwb.sqlite")
    _damage_page_holding(path, ROWS[2, 1000:1008].tobytes())
    with NWBZarrIO(path, mode="r") as io:  # metadata pages are intact: the file opens
        data = io.read().acquisition["ts"].data
        with pytest.raises(StoreCorruptError) as err:
            data[:]
    text = str(err.value)
    assert str(path) in text and "'acquisition/ts/data/c/2/0'" in text and "malformed" in text
    assert isinstance(err.value, OSError) and isinstance(err.value, FormatError)
    with pytest.raises(MigrationError, match="acquisition/ts/data.*c/2/0"):
        migrate(path, tmp_path / "m.zarr", progress=False)


@pytest.mark.parametrize("damage", ["header", "garbage", "truncated"])
def test_damaged_sqlite_file_fails_open_info_and_migrate_naming_it(sqlite_file, tmp_path, damage):
    path = tmp_path / "damaged.nwb.sqlite"
    raw = sqlite_file.read_bytes()
    path.write_bytes({"header": raw[:16] + b"\xee" * 4096 + raw[4112:], "garbage": b"not sqlite " * 400,
                      "truncated": raw[:100]}[damage])
    with pytest.raises(StoreCorruptError, match=str(path)):
        NWBZarrIO(path, mode="r").read()
    result = CliRunner().invoke(app, ["info", str(path)])
    assert result.exit_code != 0 and isinstance(result.exception, StoreCorruptError)
    assert str(path) in str(result.exception)
    with pytest.raises(StoreCorruptError, match=str(path)):
        migrate(path, tmp_path / "m.zarr", progress=False)


@pytest.fixture(scope="module")
def container_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("h5c") / "file.nwb.zarr"
    with NWBZarrIO(H5ContainerStore(root), mode="w") as io:
        io.write(_nwbfile())
    assert (root / "acquisition/ts/data/c.h5").exists()
    return root


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_hdf5_container_names_the_container(container_store, tmp_path, damage):
    root = tmp_path / "file.nwb.zarr"
    shutil.copytree(container_store, root)
    container = root / "acquisition/ts/data/c.h5"
    raw = container.read_bytes()
    container.write_bytes(raw[: len(raw) // 2] if damage == "truncated" else b"garbage!" * 100)
    with NWBZarrIO(H5ContainerStore(root, read_only=True), mode="r") as io:
        data = io.read().acquisition["ts"].data
        with pytest.raises(StoreCorruptError) as err:
            data[:]
    assert str(container) in str(err.value) and "damaged" in str(err.value)
    assert isinstance(err.value, OSError)
    with pytest.raises(MigrationError, match="acquisition/ts/data"):
        migrate(H5ContainerStore(root, read_only=True), tmp_path / "m.zarr", progress=False)
