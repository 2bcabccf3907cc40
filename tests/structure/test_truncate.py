"""truncate_file: HDF5 -> HDF5 and Zarr -> Zarr, tables consistent, pynwb reads every table."""

from __future__ import annotations

import shutil
import warnings

import h5py
import numpy as np
import pytest
from hdmf.common import DynamicTable

from nwbzarr.structure import dependency_graph, open_source, truncate_file

from .conftest import shared_file


def _all_dataframes(nwb) -> dict[str, tuple[int, int]]:
    return {obj.name: obj.to_dataframe().shape for obj in nwb.objects.values() if isinstance(obj, DynamicTable)}


def _read_tables_hdf5(path):
    from pynwb import NWBHDF5IO

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
            nwb = io.read()
            return nwb, _all_dataframes(nwb)


def _check_indices(path):
    """Every VectorIndex left ends inside its target; every region stays inside its table."""
    with open_source(path) as src:
        st = src.structure()
        for p, node in st.nodes.items():
            if node.neurodata_type == "VectorIndex" and node.shape and node.shape[0]:
                target = st.nodes[node.attrs["target"].path]
                assert int(src.read(p, (node.shape[0] - 1,))) == target.shape[0], p
            if node.neurodata_type == "DynamicTableRegion" and node.shape and node.shape[0]:
                rows = st.nodes[node.attrs["table"].path + "/id"].shape[0]
                assert int(np.max(src.read(p))) < rows, p


def test_hdf5_sample_truncated(tmp_path):
    source = shared_file("hdf5", "sample.nwb")
    out = truncate_file(source, tmp_path / "t.nwb", n=2)
    _nwb, tables = _read_tables_hdf5(out)
    assert tables == {"units": (2, 2), "trials": (2, 4), "epochs": (2, 4), "electrodes": (2, 8), "mytable": (2, 2)}
    _check_indices(out)
    with h5py.File(source) as a, h5py.File(out) as b:
        assert b["acquisition/ts_linked/data"].chunks == a["acquisition/ts_linked/data"].chunks == (5,)
        assert b["acquisition/ts/data"].shape == (2,) and b["acquisition/es/data"].shape == (2, 2)
        np.testing.assert_array_equal(b["acquisition/es/data"][:], a["acquisition/es/data"][:2])
        assert isinstance(b["acquisition/ts_linked"].get("timestamps", getlink=True), h5py.SoftLink)
        assert b["intervals/trials/spikes_index"][-1] == b["intervals/trials/spikes"].shape[0]
        assert b.attrs[".specloc"] and b[b.attrs[".specloc"]].name == "/specifications"
        rows = b["intervals/epochs/timeseries"][:]
        # epochs keeps 2 rows of a ragged column: 3 references, cut to the 2 samples kept
        assert rows["idx_start"].tolist() == [0, -1, -1] and rows["count"].tolist() == [2, -1, -1]
    ga, gb = dependency_graph(source), dependency_graph(out)
    assert set(gb.edges) <= set(ga.edges) and set(gb.nodes) == set(ga.nodes)
    assert {n: {k: v for k, v in d.items() if k != "shape"} for n, d in gb.nodes(data=True)} == \
        {n: {k: v for k, v in d.items() if k != "shape"} for n, d in ga.nodes(data=True)}


def test_hdf5_keeps_compression_and_chunks(tmp_path):
    source = shared_file("hdf5", "sharded.nwb")
    out = truncate_file(source, tmp_path / "s.nwb", n=30)
    with h5py.File(source) as a, h5py.File(out) as b:
        for name in ("acquisition/sharded/data", "acquisition/sharded_int/data"):
            assert b[name].chunks == a[name].chunks and b[name].compression == a[name].compression
            assert b[name].shape[0] == 30
            np.testing.assert_array_equal(b[name][:], a[name][:30])


@pytest.mark.parametrize("name", ["anm.nwb", "aibs_ecephys.nwb"])
def test_hdf5_real_files_with_tables(tmp_path, name):
    source = shared_file("hdf5", name) if name == "anm.nwb" else shared_file("real", name)
    out = truncate_file(source, tmp_path / name, n=3)
    _, tables = _read_tables_hdf5(out)
    assert tables and all(shape[0] <= 3 for shape in tables.values())
    _check_indices(out)


def test_hdf5_external_link_kept(tmp_path):
    shutil.copy(shared_file("hdf5", "sample.nwb"), tmp_path / "sample.nwb")
    out = truncate_file(shared_file("hdf5", "extlink.nwb"), tmp_path / "extlink.nwb", n=3)
    with h5py.File(out) as f:
        link = f["acquisition/ext"].get("data", getlink=True)
        assert isinstance(link, h5py.ExternalLink) and link.filename == "sample.nwb"
    nwb, _ = _read_tables_hdf5(out)
    assert len(nwb.acquisition["ext"].data) == 10  # the linked data lives in (untruncated) sample.nwb


def test_region_references_clipped(tmp_path):
    out = truncate_file(shared_file("real", "ecephys_tutorial.nwb"), tmp_path / "e.nwb", n=2)
    with open_source(out) as src:
        st = src.structure()
        assert st.nodes["/units/spike_times"].shape == (8,)  # the end of the second kept region
        regions = [r.region for r in st.references if r.source == "/units/spike_times_index" and r.via != "@target"]
        assert regions == [[[0, 4, 1]], [[4, 8, 1]]]


def test_edge_cases_truncate(edge_file, tmp_path):
    out = truncate_file(edge_file, tmp_path / "edge_t.h5", n=5)
    with h5py.File(out) as f:
        assert f["empty_compound"].shape == (0,) and f["empty_compound"].maxshape == (None,)
        assert f[f["a"].attrs["peer"]].name == "/b" and f[f["b"].attrs["peer"]].name == "/a"
        assert f["values"].shape == (5,) and f["values"].compression == "gzip"
        assert not f["refs"][2]  # a null reference stays null
        assert f["a"].get("ext", getlink=True).filename == "does_not_exist.nwb"


@pytest.mark.parametrize("folder,layout", [("hdmf_zarr_0.14", "v3"), ("hdmf_zarr_0.13", "legacy")])
def test_zarr_sample_truncated(tmp_path, folder, layout):
    from nwbzarr import NWBZarrIO

    source = shared_file(folder, "sample.nwb.zarr")
    out = truncate_file(source, tmp_path / "t.nwb.zarr", n=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBZarrIO(out, "r") as io:
            nwb = io.read()
            tables = _all_dataframes(nwb)
            ts = nwb.acquisition["ts"]
            assert ts.data[:].tolist() == [0.0, 0.5] and ts.timestamps[:].tolist() == [0.0, 1 / 9]
    assert tables == {"units": (2, 2), "trials": (2, 4), "epochs": (2, 4), "electrodes": (2, 8), "mytable": (2, 2)}
    _check_indices(out)
    with open_source(out) as t, open_source(source) as s:
        assert t.layout.name == s.layout.name == layout
        a, b = s.node_info("/acquisition/ts_linked/data"), t.node_info("/acquisition/ts_linked/data")
        assert {k: v for k, v in a.document.items() if k != "shape"} == \
            {k: v for k, v in b.document.items() if k != "shape"}  # chunks, codecs, attributes kept
        assert t.read("/intervals/epochs/timeseries")["idx_start"].tolist() == [0, -1, -1]
    h5 = dependency_graph(truncate_file(shared_file("hdf5", "sample.nwb"), tmp_path / "t.nwb", n=2))
    zg = dependency_graph(out)
    assert dict(h5.nodes(data=True)) == dict(zg.nodes(data=True))
    assert {(u, v): d for u, v, d in h5.edges(data=True)} == {(u, v): d for u, v, d in zg.edges(data=True)}


def test_zarr_sharded_truncated(tmp_path):
    source = shared_file("hdmf_zarr_0.14", "sharded.nwb.zarr")
    out = truncate_file(source, tmp_path / "s.nwb.zarr", n=150)
    with open_source(out) as t, open_source(source) as s:
        assert t.structure().nodes["/acquisition/sharded/data"].shape == (150, 4)
        np.testing.assert_array_equal(t.read("/acquisition/sharded/data"), s.read("/acquisition/sharded/data",
                                                                               (slice(0, 150),)))
        assert t.node_info("/acquisition/sharded/data").document["codecs"] == \
            s.node_info("/acquisition/sharded/data").document["codecs"]


def test_bad_input_named(tmp_path):
    source = shared_file("hdf5", "sample.nwb")
    (tmp_path / "exists.nwb").write_bytes(b"")
    with pytest.raises(FileExistsError, match="exists.nwb"):
        truncate_file(source, tmp_path / "exists.nwb")
    with pytest.raises(ValueError, match="n must be >= 0"):
        truncate_file(source, tmp_path / "x.nwb", n=-1)
    with pytest.raises(FileNotFoundError, match="missing.nwb"):
        truncate_file(tmp_path / "missing.nwb")
    (tmp_path / "junk.nwb").write_text("not a file format")
    with pytest.raises(ValueError, match="junk.nwb"):
        truncate_file(tmp_path / "junk.nwb", tmp_path / "y.nwb")
