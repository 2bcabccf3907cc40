"""Issue 18, point 5: ``nwbzarr info`` reads HDF5 NWB files as it reads Zarr stores (the same tree), and
``--json`` gives both as one document with stable keys."""

from __future__ import annotations

import json

import h5py
import pytest

from _cli_process import BUNDLED_SAMPLE, run_nwbzarr

NODE_KEYS = {"path", "kind", "neurodata_type", "shape", "dtype", "chunks", "compression", "stored_bytes",
             "logical_bytes", "links", "incomplete", "error"}


def info_json(path, cwd) -> dict:
    result = run_nwbzarr("info", "--json", str(path), cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _content(doc: dict) -> set[tuple]:
    """What must agree between an HDF5 file and a Zarr store of the same NWB content."""
    return {(n["path"], n["kind"], n["neurodata_type"], tuple(n["shape"] or ()), n["dtype"],
             tuple((link["name"], link["target"]) for link in n["links"]))
            for n in doc["nodes"] if not n["path"].startswith("/specifications/")}


@pytest.mark.parametrize("name", ["sample", "dci", "sharded", "extlink"])
def test_hdf5_file_shows_the_tree_of_the_same_content_written_by_hdmf_zarr(shared_data, tmp_path, name):
    """The shared files hold the same content written by NWBHDF5IO and by hdmf-zarr 0.14: ``info`` shows both
    with the same nodes, types, shapes, dtypes, links and chunk shapes."""
    hdf5 = info_json(shared_data / "hdf5" / f"{name}.nwb", tmp_path)
    zarr = info_json(shared_data / "hdmf_zarr_0.14" / f"{name}.nwb.zarr", tmp_path)
    assert (hdf5["format"], zarr["format"]) == ("hdf5", "zarr")
    assert _content(hdf5) == _content(zarr) and len(_content(hdf5)) > 5
    zarr_chunks = {n["path"]: n["chunks"] for n in zarr["nodes"]}
    for node in hdf5["nodes"]:
        if node["chunks"] is not None:
            assert node["chunks"] == zarr_chunks[node["path"]], node["path"]


def test_hdf5_tree_has_the_files_chunks_filters_and_sizes(shared_data, tmp_path):
    """A file with gzip-compressed chunked datasets (AIBS ecephys): every dataset as h5py describes it."""
    path = shared_data / "real" / "aibs_ecephys.nwb"
    doc = info_json(path, tmp_path)
    nodes = {n["path"]: n for n in doc["nodes"]}
    with h5py.File(path, "r") as fh:
        datasets: dict[str, h5py.Dataset] = {}

        def collect(name: str, obj: object) -> None:  # h5py stops visiting at the first value returned
            if isinstance(obj, h5py.Dataset):
                datasets["/" + name] = obj

        fh.visititems(collect)
        compressed = 0
        for name, ds in datasets.items():
            node = nodes[name]
            assert node["kind"] == "dataset" and tuple(node["shape"]) == ds.shape, name
            assert node["chunks"] == (list(ds.chunks) if ds.chunks else None), name
            assert ("gzip" in node["compression"]) == (ds.compression == "gzip"), name
            assert node["stored_bytes"] == ds.id.get_storage_size(), name
            compressed += ds.compression == "gzip"
        assert compressed > 10
    text = run_nwbzarr("info", str(path), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "chunks=[47320, 1] gzip" in text.stdout and "contiguous" in text.stdout


def test_tree_of_the_bundled_sample_and_its_conversion_agree(tmp_path):
    result = run_nwbzarr("info", str(BUNDLED_SAMPLE), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ElectricalSeries" in result.stdout and "contiguous" in result.stdout
    converted = run_nwbzarr("convert", str(BUNDLED_SAMPLE), "s.nwb.zarr", cwd=tmp_path)
    assert converted.returncode == 0, converted.stderr
    assert _content(info_json(BUNDLED_SAMPLE, tmp_path)) == _content(info_json(tmp_path / "s.nwb.zarr", tmp_path))


@pytest.mark.parametrize("folder, name", [("hdf5", "sample.nwb"), ("hdmf_zarr_0.14", "sample.nwb.zarr"),
                                          ("hdmf_zarr_0.13", "sample.nwb.zarr")])
def test_json_keys_are_the_same_for_every_node_and_format(shared_data, tmp_path, folder, name):
    doc = info_json(shared_data / folder / name, tmp_path)
    assert set(doc) == {"version", "location", "format", "nodes"} and doc["version"] == 1
    assert doc["location"] == str(shared_data / folder / name)
    assert all(set(node) == NODE_KEYS for node in doc["nodes"])
    root = doc["nodes"][0]
    assert root["path"] == "/" and root["kind"] == "group" and root["neurodata_type"] == "NWBFile"
    ts = {n["path"]: n for n in doc["nodes"]}["/acquisition/ts_linked"]
    assert ts["links"] == [{"name": "timestamps", "file": ".", "target": "/acquisition/ts/timestamps"}]
    data = {n["path"]: n for n in doc["nodes"]}["/acquisition/es/data"]
    assert (data["shape"], data["dtype"], data["logical_bytes"]) == ([10, 2], "int16", 40)
    assert data["stored_bytes"] > 0 and isinstance(data["compression"], list)
