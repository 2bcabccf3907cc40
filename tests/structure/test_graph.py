"""dependency_graph / filter_dependency_graph on real files, HDF5 and Zarr alike, and on edge cases."""

from __future__ import annotations

import io
import json

import h5py
import networkx as nx
import numpy as np
import pytest

from nwbzarr.structure import dependency_graph, filter_dependency_graph, open_source
from nwbzarr.structure.graph import to_dot, to_graphml, to_json
from nwbzarr.structure.zarr_source import ZarrSource

from .conftest import shared_file

ALL_HDF5 = ["sample", "dci", "sharded", "extlink", "anm"]
REAL = ["aibs_ecephys.nwb", "1.1.2_nwbfile.nwb", "1.5.1_timeseries_no_unit.nwb",
        "2.1.0_imageseries_non_external_format.nwb", "2.2.0_subject_no_age__reference.nwb",
        "ecephys_tutorial.nwb", "link_test.nwb"]


def _graph_dict(g: nx.DiGraph) -> tuple[dict, dict]:
    return dict(g.nodes(data=True)), {(u, v): d for u, v, d in g.edges(data=True)}


@pytest.mark.parametrize("folder", ["hdmf_zarr_0.14", "hdmf_zarr_0.13"])
@pytest.mark.parametrize("name", ["sample", "dci", "sharded"])
def test_same_content_same_graph_hdf5_and_zarr(name, folder):
    h5 = dependency_graph(shared_file("hdf5", f"{name}.nwb"))
    zarr = dependency_graph(shared_file(folder, f"{name}.nwb.zarr"))
    h_nodes, h_edges = _graph_dict(h5)
    z_nodes, z_edges = _graph_dict(zarr)
    assert set(h_nodes) == set(z_nodes)
    for node in h_nodes:
        assert h_nodes[node] == z_nodes[node], node
    assert h_edges == z_edges


def test_sample_edges_are_labelled():
    g = dependency_graph(shared_file("hdf5", "sample.nwb"))
    assert g.edges["/acquisition", "/acquisition/ts"]["label"] == "child"
    link = g.edges["/acquisition/ts_linked", "/acquisition/ts/timestamps"]
    assert link == {"label": "link", "name": "timestamps"}
    assert "/acquisition/ts_linked/timestamps" not in g  # a soft link is not a child
    ref = g.edges["/intervals/epochs/timeseries", "/acquisition/es"]
    assert ref["label"] == "reference" and ref["refs"] == [{"via": "[2].timeseries"}]
    assert g.edges["/general/extracellular_ephys/electrodes/group", "/general/extracellular_ephys/shank0"][
        "refs"] == [{"via": "[0]"}, {"via": "[1]"}, {"via": "[2]"}]
    es = g.nodes["/acquisition/es/electrodes"]
    assert es["neurodata_type"] == "DynamicTableRegion" and es["shape"] == [2] and es["dtype"] == "int64"
    assert es["attrs"]["table"] == "/general/extracellular_ephys/electrodes"  # reference as target path
    assert g.nodes["/intervals/epochs/timeseries"]["dtype"] == \
        "compound(idx_start:int32,count:int32,timeseries:reference)"
    assert not any(n.startswith("/specifications") for n in g)
    assert any(n.startswith("/specifications") for n in dependency_graph(shared_file("hdf5", "sample.nwb"),
                                                                          include_specifications=True))


def test_region_references_are_edges_with_their_region():
    g = dependency_graph(shared_file("real", "ecephys_tutorial.nwb"))
    edge = g.edges["/units/spike_times_index", "/units/spike_times"]
    regions = [r.get("region") for r in edge["refs"]]
    assert regions == [None, [[0, 4, 1]], [[4, 8, 1]], [[8, 10, 1]]]
    assert g.nodes["/units/spike_times_index"]["dtype"] == "region_reference"


@pytest.mark.parametrize("folder", ["hdmf_zarr_0.14", "hdmf_zarr_0.13"])
def test_zarr_external_links(folder):
    g = dependency_graph(shared_file(folder, "extlink.nwb.zarr"))
    for name in ("data", "timestamps"):
        node = f"../sample.nwb.zarr::/acquisition/ts/{name}"
        assert g.nodes[node]["kind"] == "external"
        assert g.edges["/acquisition/ext", node] == {"label": "link", "name": name}


def test_external_link_is_a_node_naming_the_other_file():
    g = dependency_graph(shared_file("real", "link_test.nwb"))
    node = "ecephys_tutorial.nwb::/general/subject"
    assert g.nodes[node] == {"kind": "external", "file": "ecephys_tutorial.nwb", "path": "/general/subject",
                             "neurodata_type": None}
    assert g.edges["/general", node] == {"label": "link", "name": "subject"}


@pytest.mark.parametrize("name", ALL_HDF5)
def test_every_shared_file_has_a_graph(name):
    for path in (shared_file("hdf5", f"{name}.nwb"), shared_file("hdmf_zarr_0.14", f"{name}.nwb.zarr"),
                 shared_file("hdmf_zarr_0.13", f"{name}.nwb.zarr")):
        g = dependency_graph(path)
        assert g.nodes["/"]["neurodata_type"] == "NWBFile"
        assert not [n for n, d in g.nodes(data=True) if d["kind"] == "missing"]
        assert nx.is_tree(g.edge_subgraph((u, v) for u, v, d in g.edges(data=True) if d["label"] == "child"))


@pytest.mark.parametrize("name", REAL)
def test_real_files_have_graphs(name):
    g = dependency_graph(shared_file("real", name))
    assert g.nodes["/"]["neurodata_type"] == "NWBFile"
    assert not [n for n, d in g.nodes(data=True) if d["kind"] == "missing"]


def test_aibs_file_references_and_soft_links():
    g = dependency_graph(shared_file("real", "aibs_ecephys.nwb"))
    labels = [d["label"] for _, _, d in g.edges(data=True)]
    assert labels.count("link") == 2
    refs = sum(len(d.get("refs", [])) for _, _, d in g.edges(data=True))
    assert refs == 11  # one attribute reference (the other is .specloc) and a 10-element reference dataset
    assert g.edges["/acquisition", "/acquisition/probe_769322820_lfp/probe_769322820_lfp_data"]["label"] == "link"


def test_graph_reads_no_bulk_data(tmp_path):
    """A dataset whose raw data file is gone cannot be read; the graph must not need it."""
    path = tmp_path / "ext.h5"
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.arange(50, dtype="<f8").tobytes())
    with h5py.File(path, "w") as f:
        f.create_dataset("bulk", shape=(50,), dtype="<f8", external=[(str(raw), 0, 400)])
        f["bulk"].attrs["neurodata_type"] = "VectorData"
        f.create_dataset("refs", data=[f["bulk"].ref], dtype=h5py.ref_dtype)
    raw.unlink()
    with h5py.File(path) as f, pytest.raises(OSError):
        f["bulk"][:]
    g = dependency_graph(path)
    assert g.nodes["/bulk"]["shape"] == [50] and g.edges["/refs", "/bulk"]["refs"] == [{"via": "[0]"}]


def test_zarr_graph_reads_only_reference_arrays(monkeypatch):
    path = shared_file("hdmf_zarr_0.14", "sample.nwb.zarr")
    read = []
    original = ZarrSource._decoded

    def spy(self, info, selection):
        read.append(info.path)
        return original(self, info, selection)

    monkeypatch.setattr(ZarrSource, "_decoded", spy)
    dependency_graph(path)
    assert sorted(read) == ["general/extracellular_ephys/electrodes/group", "intervals/epochs/timeseries"]


def test_filter_drops_vector_index_and_untyped_leaves():
    g = dependency_graph(shared_file("hdf5", "sample.nwb"))
    f = filter_dependency_graph(g)
    assert not [n for n, d in f.nodes(data=True) if d.get("neurodata_type") == "VectorIndex"]
    assert "/acquisition/ts/data" not in f and "/session_start_time" not in f
    assert "/acquisition/ts" in f and "/intervals/epochs/timeseries" in f
    assert "/acquisition" in f  # untyped but not a leaf
    assert len(g) > len(f)


def test_edge_cases_dangling_link_empty_compound_cycle(edge_file):
    g = dependency_graph(edge_file)
    assert g.nodes["does_not_exist.nwb::/acquisition/x"]["kind"] == "external"
    assert g.nodes["/nowhere"]["kind"] == "missing"
    assert g.nodes["/empty_compound"]["shape"] == [0]
    assert g.edges["/a", "/b"] == {"label": "reference", "refs": [{"via": "@peer"}]}
    assert g.edges["/a", "/a"]["refs"] == [{"via": "@me"}]
    # a soft link and a reference on the same pair: one edge, the stronger label, the reference kept
    assert g.edges["/b", "/a"] == {"label": "link", "name": "soft", "refs": [{"via": "@peer"}]}
    assert [d["via"] for d in g.edges["/refs", "/a"]["refs"]] == ["[0]"]
    assert ["/a", "/b"] in [sorted(c) for c in nx.simple_cycles(g) if len(c) == 2]
    with open_source(edge_file) as src:
        assert src.read("/refs")[2] is None  # the null reference


def test_exports_round_trip():
    g = dependency_graph(shared_file("hdf5", "sample.nwb"))
    data = json.loads(to_json(g))
    back = nx.node_link_graph(data, edges="edges")
    assert set(back.nodes) == set(g.nodes) and back.number_of_edges() == g.number_of_edges()
    buf = io.BytesIO()
    to_graphml(g, buf)
    buf.seek(0)
    gm = nx.read_graphml(buf)
    assert set(gm.nodes) == set(g.nodes) and gm.edges["/acquisition/ts_linked", "/acquisition/ts/timestamps"][
        "label"] == "link"
    dot = to_dot(g)
    assert '"/acquisition/ts_linked" -> "/acquisition/ts/timestamps" [label="link"' in dot
