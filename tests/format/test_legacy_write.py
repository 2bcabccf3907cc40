"""Writing the legacy layout (``zarr_format=2``): round trips, json2 references, append keeps it legacy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pynwb import TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from _helpers import assert_containers_equal
from _nwb_factory import broad_nwbfile
from nwbzarr import NWBZarrIO
from nwbzarr.backend.io import ZarrIO
from nwbzarr.format.legacy import LegacyLayout


def _zarr_keys(store: Path) -> list[Path]:
    return [p for p in store.rglob("*") if p.name in (".zarray", ".zgroup", ".zattrs", ".zmetadata", "zarr.json")]


@pytest.fixture(scope="module")
def broad_legacy(tmp_path_factory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("legacy") / "broad.nwb.zarr"
    nwb = broad_nwbfile()
    with NWBZarrIO(path, "w", zarr_format=2) as io:
        io.write(nwb)
    return path, nwb


def test_broad_file_round_trips_in_the_legacy_layout(broad_legacy):
    path, original = broad_legacy
    with NWBZarrIO(path, "r") as io:
        assert isinstance(io.layout, LegacyLayout)
        assert_containers_equal(original, io.read())


def test_written_store_is_zarr_v2_with_json2_references_and_no_pickle(broad_legacy):
    path, _ = broad_legacy
    assert not (path / "zarr.json").exists()
    assert (path / ".zgroup").exists() and (path / ".zmetadata").exists()
    keys = _zarr_keys(path)
    assert not [k for k in keys if k.name == "zarr.json"]
    object_codecs = set()
    for zarray in (k for k in keys if k.name == ".zarray"):
        doc = json.loads(zarray.read_text())
        assert doc["zarr_format"] == 2
        for f in doc.get("filters") or []:
            object_codecs.add(f["id"])
    assert "pickle" not in object_codecs and "json2" in object_codecs
    group = path / "general/extracellular_ephys/electrodes/group"
    assert json.loads((group / ".zattrs").read_text())["zarr_dtype"] == "object"
    assert json.loads((group / ".zarray").read_text())["filters"][0]["id"] == "json2"
    root = json.loads((path / ".zattrs").read_text())
    assert root[".specloc"] == "specifications"
    epochs = json.loads((path / "intervals/epochs/timeseries/.zattrs").read_text())
    assert [f["dtype"] for f in epochs["zarr_dtype"]] == ["int32", "int32", "object"]


def test_consolidated_metadata_matches_every_document(broad_legacy):
    path, _ = broad_legacy
    meta = json.loads((path / ".zmetadata").read_text())
    assert meta["zarr_consolidated_format"] == 1
    on_disk = {str(k.relative_to(path)): json.loads(k.read_text()) for k in _zarr_keys(path)
               if k.name != ".zmetadata"}
    assert meta["metadata"] == on_disk


def test_scalars_are_shape_one_arrays_marked_scalar(broad_legacy):
    path, _ = broad_legacy
    zarray = json.loads((path / "session_description/.zarray").read_text())
    assert zarray["shape"] == [1] and zarray["filters"] == [{"id": "vlen-utf8"}]
    assert json.loads((path / "session_description/.zattrs").read_text())["zarr_dtype"] == "scalar"


def test_append_keeps_the_legacy_layout_and_rewrites_zmetadata(tmp_path: Path):
    path = tmp_path / "append.nwb.zarr"
    nwb = mock_NWBFile()
    nwb.add_trial(start_time=0.0, stop_time=1.0)
    with NWBZarrIO(path, "w", zarr_format=2) as io:
        io.write(nwb)
    with NWBZarrIO(path, "a") as io:
        assert isinstance(io.layout, LegacyLayout)
        nwb = io.read()
        nwb.add_acquisition(TimeSeries(name="later", data=np.arange(4.0), unit="m", rate=2.0))
        nwb.add_trial(start_time=1.0, stop_time=2.0)
        io.write(nwb)
    assert not (path / "zarr.json").exists()
    meta = json.loads((path / ".zmetadata").read_text())["metadata"]
    assert meta["acquisition/later/data/.zarray"]["shape"] == [4]
    assert meta["intervals/trials/start_time/.zarray"]["shape"] == [2]
    assert meta["intervals/trials/start_time/.zarray"] == json.loads(
        (path / "intervals/trials/start_time/.zarray").read_text())
    for mode in ("r", "r-"):
        with NWBZarrIO(path, mode) as io:
            back = io.read()
            assert back.acquisition["later"].data[:].tolist() == [0.0, 1.0, 2.0, 3.0]
            assert back.trials["start_time"].data[:].tolist() == [0.0, 1.0]


def test_append_to_a_reference_column_in_place(tmp_path: Path):
    """Appending one element to a stored json2 reference dataset (ZarrDataset.append, mode a)."""
    path = tmp_path / "refs.nwb.zarr"
    nwb = mock_NWBFile()
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("g", description="g", location="x", device=device)
    nwb.add_electrode(group=group, location="x")
    with NWBZarrIO(path, "w", zarr_format=2) as io:
        io.write(nwb)
    with NWBZarrIO(path, "a") as io:
        back = io.read()
        back.electrodes.add_row(group=back.electrode_groups["g"], location="y", group_name="g")
    with NWBZarrIO(path, "r") as io:
        back = io.read()
        assert back.electrodes["location"][:].tolist() == ["x", "y"]
        assert [g.name for g in back.electrodes["group"][:]] == ["g", "g"]
    meta = json.loads((path / ".zmetadata").read_text())["metadata"]
    assert meta["general/extracellular_ephys/electrodes/group/.zarray"]["shape"] == [2]


def test_builder_level_write_and_read(tmp_path: Path):
    from hdmf.build import DatasetBuilder, GroupBuilder, ReferenceBuilder

    root = GroupBuilder("root", attributes={"note": "plain hdmf"})
    data = DatasetBuilder("values", np.arange(7, dtype="int16"), attributes={"unit": "m"})
    text = DatasetBuilder("words", ["a", "bé", ""])
    group = GroupBuilder("g", datasets={"values": data, "words": text})
    root.set_group(group)
    root.set_dataset(DatasetBuilder("ref", ReferenceBuilder(data)))
    root.set_dataset(DatasetBuilder("scalar", 3.5))
    path = tmp_path / "plain.zarr"
    from hdmf.common import get_manager

    with ZarrIO(path, "w", manager=get_manager(), zarr_format=2) as io:
        io.write_builder(root, cache_spec=False)
    with ZarrIO(path, "r") as io:
        back = io.read_builder()
        np.testing.assert_array_equal(back["g/values"].data[:], np.arange(7))
        assert back["g/words"].data[:].tolist() == ["a", "bé", ""]
        assert back["scalar"].data == 3.5
        assert back.attributes["note"] == "plain hdmf"
        assert back["ref"].data[0] is back["g/values"]
