"""Bad input: a clear exception naming the path and the problem, and nothing already written is lost."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hdmf.backends.errors import UnsupportedOperation
from pynwb import TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from nwbzarr import DanglingReferenceError, FormatError, InvalidNameError, NWBZarrIO, ZarrIO


def _write_small(path: Path) -> None:
    nwb = mock_NWBFile()
    nwb.add_acquisition(TimeSeries(name="ts", data=np.arange(5.0), unit="m", rate=1.0))
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwb)


def test_unknown_mode_lists_valid_modes(tmp_path):
    with pytest.raises(ValueError, match=r"invalid mode 'rw'.*r, r-, r\+, a, w, w-, x"):
        ZarrIO(tmp_path / "x.zarr", mode="rw")


def test_missing_path_in_read_mode(tmp_path):
    missing = tmp_path / "nothing.zarr"
    with pytest.raises(FileNotFoundError, match="nothing.zarr"):
        NWBZarrIO(missing, mode="r")


def test_directory_that_is_not_zarr(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(FormatError, match="is not a Zarr store"):
        ZarrIO(folder, mode="r")
    with pytest.raises(FileExistsError, match="not a Zarr store; refusing to overwrite"):
        ZarrIO(folder, mode="w")
    assert (folder / "notes.txt").read_text() == "hello"


def test_hdf5_file_is_named_as_such(shared_data, tmp_path):
    with pytest.raises(FormatError, match="is an HDF5 file"):
        ZarrIO(shared_data / "hdf5" / "sample.nwb", mode="r")


def test_write_in_read_mode_is_refused_and_file_kept(tmp_path):
    path = tmp_path / "a.nwb.zarr"
    _write_small(path)
    before = (path / "zarr.json").read_bytes()
    with NWBZarrIO(path, mode="r") as io:
        with pytest.raises(UnsupportedOperation, match="mode 'r'"):
            io.write(mock_NWBFile())
    assert (path / "zarr.json").read_bytes() == before


def test_w_minus_refuses_existing(tmp_path):
    path = tmp_path / "a.nwb.zarr"
    _write_small(path)
    for mode in ("w-", "x"):
        with pytest.raises(FileExistsError, match="never overwrites"):
            NWBZarrIO(path, mode=mode)


def test_corrupted_zarr_json_names_the_document(tmp_path):
    path = tmp_path / "a.nwb.zarr"
    _write_small(path)
    (path / "zarr.json").write_text("{not json")
    with pytest.raises(FormatError, match="zarr.json.*not valid JSON"):
        NWBZarrIO(path, mode="r").read()


def test_corrupted_node_document_without_consolidation(tmp_path):
    path = tmp_path / "a.nwb.zarr"
    _write_small(path)
    (path / "acquisition" / "ts" / "data" / "zarr.json").write_text('{"node_type": "weird"}')
    with pytest.raises(FormatError, match="acquisition/ts/data"):
        NWBZarrIO(path, mode="r-").read()


def test_dangling_link_names_link_and_target(tmp_path):
    path = tmp_path / "a.nwb.zarr"
    _write_small(path)
    root = json.loads((path / "zarr.json").read_text())
    meta = root["consolidated_metadata"]["metadata"]
    meta["acquisition/ts"]["attributes"]["_LINKS"] = [{"name": "gone", "source": ".", "path": "/nowhere/at/all"}]
    (path / "zarr.json").write_text(json.dumps(root))
    with pytest.raises(DanglingReferenceError, match="/nowhere/at/all"):
        ZarrIO(path, mode="r").read_builder()


def test_dangling_external_store(tmp_path):
    path = tmp_path / "a.nwb.zarr"
    _write_small(path)
    root = json.loads((path / "zarr.json").read_text())
    meta = root["consolidated_metadata"]["metadata"]
    meta["acquisition/ts"]["attributes"]["_LINKS"] = [{"name": "x", "source": "../missing.zarr", "path": "/a"}]
    (path / "zarr.json").write_text(json.dumps(root))
    with pytest.raises(DanglingReferenceError, match="missing.zarr.*was not found"):
        ZarrIO(path, mode="r").read_builder()


@pytest.mark.parametrize("name", ["a/b", "..", ".", "zarr.json", "nul\x00char", "x" * 300])
def test_names_zarr_cannot_hold_are_refused_before_writing(tmp_path, name):
    from hdmf.build import DatasetBuilder, GroupBuilder

    path = tmp_path / "bad.zarr"
    root = GroupBuilder("root")
    group = GroupBuilder("acquisition")
    root.set_group(group)
    group.set_dataset(DatasetBuilder("ok", data=[1.0]))
    group.set_dataset(DatasetBuilder(name, data=[1.0]))
    with ZarrIO(path, mode="w") as io:
        with pytest.raises(InvalidNameError, match="/acquisition"):
            io.write_builder(root)
    assert not (path / "zarr.json").exists()


def test_unsupported_dtype_names_dataset(tmp_path):
    from hdmf.build import DatasetBuilder, GroupBuilder

    root = GroupBuilder("root")
    root.set_dataset(DatasetBuilder("cplx", data=np.array([1 + 2j, 3j])))
    with ZarrIO(tmp_path / "c.zarr", mode="w") as io:
        with pytest.raises(Exception, match="/cplx.*complex128"):
            io.write_builder(root)


def test_reserved_attribute_name_is_refused(tmp_path):
    from hdmf.build import DatasetBuilder, GroupBuilder

    root = GroupBuilder("root")
    root.set_dataset(DatasetBuilder("d", data=np.arange(3), attributes={"_DTYPE": "evil"}))
    with ZarrIO(tmp_path / "r.zarr", mode="w") as io:
        with pytest.raises(InvalidNameError, match="_DTYPE.*reserved"):
            io.write_builder(root)


def test_failed_append_write_keeps_existing_content(tmp_path):
    path = tmp_path / "a.nwb.zarr"
    _write_small(path)
    with NWBZarrIO(path, mode="a") as io:
        nwb = io.read()
        nwb.add_acquisition(TimeSeries(name="cplx", data=np.array([1j]), unit="m", rate=1.0))
        with pytest.raises(Exception, match="cplx"):
            io.write(nwb)
    with NWBZarrIO(path, mode="r") as io:
        assert list(io.read().acquisition["ts"].data[:]) == [0.0, 1.0, 2.0, 3.0, 4.0]
