"""read_models: models generated from the file's own specs, lazy arrays, references, tables, errors."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from nwbzarr.structure import read_specs_as_dicts
from nwbzarr.structure.specs import newest_specs
from nwbzarr.structure.typed_read import (
    LazyArray,
    ModelValidationError,
    read_models,
    to_json,
    validation_errors,
)

from .conftest import shared_file

SAMPLES = [("hdf5", "sample.nwb"), ("hdmf_zarr_0.14", "sample.nwb.zarr"), ("hdmf_zarr_0.13", "sample.nwb.zarr")]


@pytest.mark.parametrize("where", SAMPLES)
def test_sample_as_models(where):
    root = read_models(shared_file(*where))
    assert type(root).__name__ == "NWBFile" and root.path == "/"
    ts = root["acquisition"]["ts"]
    assert type(ts).__name__ == "TimeSeries" and ts.description == "plain series" and ts.data.unit == "m"
    assert isinstance(ts.data.value, LazyArray) and ts.data.value.shape == (10,)
    assert ts.data.value[1:3].tolist() == [0.5, 1.0]
    assert root["acquisition"]["ts_linked"].timestamps is ts.timestamps  # a soft link: the same object
    electrodes = root["general"]["extracellular_ephys"]["electrodes"]
    shank0 = root["general"]["extracellular_ephys"]["shank0"]
    assert electrodes["group"].value == [shank0] * 3 and shank0.device is root["general"]["devices"]["probe"]
    assert root["acquisition"]["es"]["electrodes"].table is electrodes
    trials = root["intervals"]["trials"]
    assert len(trials) == 3 and trials[1]["label"] == "yy" and trials[2]["spikes"].tolist() == []
    epochs = root["intervals"]["epochs"]
    assert epochs["timeseries"].value[2] == {"idx_start": 500, "count": 500, "timeseries": root["acquisition"]["es"]}
    with pytest.raises(IndexError, match="/intervals/trials"):
        trials[3]


def test_hdf5_and_zarr_models_agree():
    a = json.loads(to_json(read_models(shared_file("hdf5", "sample.nwb"))))
    b = json.loads(to_json(read_models(shared_file("hdmf_zarr_0.14", "sample.nwb.zarr"))))
    assert a == b


def test_to_json_summarises_arrays_unless_asked():
    root = read_models(shared_file("hdf5", "sample.nwb"))
    doc = json.loads(to_json(root))
    data = doc["acquisition"]["ts"]["data"]["value"]
    assert data == {"path": "/acquisition/ts/data", "shape": [10], "dtype": "float64"}
    assert doc["acquisition"]["es"]["electrodes"]["table"] == {"$ref": "/general/extracellular_ephys/electrodes"}
    full = json.loads(to_json(root, arrays=True))
    assert full["acquisition"]["ts"]["data"]["value"][:2] == [0.0, 0.5]


@pytest.mark.parametrize("name", ["aibs_ecephys.nwb", "2.2.0_subject_no_age__reference.nwb", "1.1.2_nwbfile.nwb"])
def test_real_files_with_their_own_specs(name):
    path = shared_file("real", name)
    root = read_models(path)
    assert type(root).__name__ == "NWBFile"
    if name == "aibs_ecephys.nwb":
        assert "ndx-aibs-ecephys" in read_specs_as_dicts(path)


def test_validation_error_names_the_path(tmp_path):
    bad = tmp_path / "bad.nwb"
    shutil.copy(shared_file("hdf5", "sample.nwb"), bad)
    with h5py.File(bad, "a") as f:
        del f["intervals/trials"].attrs["description"]  # required by DynamicTable
        f["general/devices/probe"].attrs["description"] = np.array([1.5, 2.5])  # text expected
    with pytest.raises(ModelValidationError, match=r"/general/devices/probe \(Device\).*description"):
        read_models(bad)
    root = read_models(bad, strict=False)
    errors = validation_errors(root)
    assert any("/intervals/trials (TimeIntervals)" in e and "description: Field required" in e for e in errors)
    assert any("/general/devices/probe" in e and "description" in e for e in errors)


def test_reference_cycle_and_files_without_specs(edge_file):
    root = read_models(edge_file)
    a, b = root["a"], root["b"]
    assert a.peer is b and b.peer is a and a.me is a
    assert json.loads(to_json(root))["a"]["peer"] == {"$ref": "/b"}


def test_specs_by_namespace_and_version(tmp_path):
    path = tmp_path / "two_versions.h5"
    with h5py.File(path, "w") as f:
        for version in ("1.9.0", "1.10.0", "1.2.0"):
            f.create_dataset(f"specifications/ns/{version}/namespace",
                             data=json.dumps({"namespaces": [{"name": "ns", "version": version}]}))
    specs = read_specs_as_dicts(path)
    assert sorted(specs["ns"]) == ["1.10.0", "1.2.0", "1.9.0"]
    assert specs["ns"]["1.9.0"]["namespace"]["namespaces"][0]["version"] == "1.9.0"
    assert newest_specs(specs)["ns"][0] == "1.10.0"
    h5 = read_specs_as_dicts(shared_file("hdf5", "sample.nwb"))
    assert h5 == read_specs_as_dicts(shared_file("hdmf_zarr_0.14", "sample.nwb.zarr"))
    assert sorted(h5) == ["core", "hdmf-common", "hdmf-experimental"] and list(h5["core"]) == ["2.11.0"]
