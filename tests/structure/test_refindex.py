"""ReferenceIndex / find_references: referrers (never the object itself), forward references, links."""

from __future__ import annotations

import pytest

from nwbzarr.structure import ReferenceIndex, find_references, open_source

from .conftest import shared_file


def _naive_referrers(st, target):
    """Brute force over the walked structure: every reference and link whose target is ``target``."""
    out = {(r.source, r.via) for r in st.references if r.target_id == target}
    return out | {(lk.parent, f"link:{lk.name}") for lk in st.links if lk.target_id == target}


@pytest.mark.parametrize("path", [("hdf5", "sample.nwb"), ("hdmf_zarr_0.14", "sample.nwb.zarr"),
                                  ("hdmf_zarr_0.13", "sample.nwb.zarr")])
def test_referrers_of_a_time_series(path):
    found = find_references(shared_file(*path), "/acquisition/ts")
    assert [(r.source, r.via) for r in found] == [("/intervals/epochs/timeseries", "[0].timeseries"),
                                                  ("/intervals/epochs/timeseries", "[1].timeseries")]
    assert all(r.target == "/acquisition/ts" for r in found)


def test_links_are_referrers_and_index_matches_a_naive_scan():
    path = shared_file("hdf5", "sample.nwb")
    index = ReferenceIndex(path)
    probe = index.referrers("/general/devices/probe")
    assert {(r.source, r.via) for r in probe} == {("/general/extracellular_ephys/shank0", "link:device"),
                                                  ("/general/extracellular_ephys/shank1", "link:device")}
    assert ReferenceIndex(path, links=False).referrers("/general/devices/probe") == []
    with open_source(path) as src:
        st = src.structure()
    for target in st.nodes:
        assert {(r.source, r.via) for r in index.referrers(target)} == _naive_referrers(st, target), target


def test_forward_references_and_recursive_lookup():
    index = ReferenceIndex(shared_file("hdmf_zarr_0.14", "sample.nwb.zarr"))
    fwd = index.references("/intervals/epochs/timeseries")
    assert [r.target for r in fwd] == ["/acquisition/ts", "/acquisition/ts", "/acquisition/es"]
    assert index.references("acquisition/es/electrodes")[0].via == "@table"  # relative paths accepted
    assert index.referrers("/acquisition") == []
    inside = index.referrers("/acquisition", recursive=True)
    assert {r.target for r in inside} == {"/acquisition/ts", "/acquisition/es", "/acquisition/ts/timestamps"}
    assert index.referrers("/acquisition/t", recursive=True) == []  # a prefix of a name is not a parent


def test_region_referrers_carry_regions():
    refs = find_references(shared_file("real", "ecephys_tutorial.nwb"), "/units/spike_times")
    assert [r.region for r in refs if r.via != "@target"] == [[[0, 4, 1]], [[4, 8, 1]], [[8, 10, 1]]]


def test_cycle_and_external_link(edge_file):
    index = ReferenceIndex(edge_file)
    assert {(r.source, r.via) for r in index.referrers("/a")} == {
        ("/a", "@me"), ("/b", "@peer"), ("/b", "link:soft"), ("/refs", "[0]")}
    assert {(r.source, r.via) for r in index.referrers("/b")} == {("/a", "@peer"), ("/refs", "[1]")}
    ext = index.referrers("does_not_exist.nwb::/acquisition/x")
    assert [(r.source, r.file) for r in ext] == [("/a", "does_not_exist.nwb")]


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.nwb"):
        ReferenceIndex(tmp_path / "nothing.nwb")
