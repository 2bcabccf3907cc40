"""``nwbzarr convert --links``: the external-links policy applies to reading the source, both directions."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from _link_stores import replace_sources
from nwbzarr import ExternalLinkError
from nwbzarr.cli import app

runner = CliRunner()


@pytest.fixture()
def elsewhere(shared_data, tmp_path):
    """``other/`` holds sample.nwb and its Zarr copy; ``home/`` the extlink files (Zarr, HDF5) whose links
    were rewritten to the absolute paths of those in ``other/`` (so they leave ``home/``)."""
    other, home = tmp_path / "other", tmp_path / "home"
    other.mkdir()
    home.mkdir()
    shutil.copy(shared_data / "hdf5" / "sample.nwb", other / "sample.nwb")
    shutil.copytree(shared_data / "hdmf_zarr_0.14" / "sample.nwb.zarr", other / "sample.nwb.zarr")
    store = shutil.copytree(shared_data / "hdmf_zarr_0.14" / "extlink.nwb.zarr", home / "extlink.nwb.zarr")
    replace_sources(store, {"../sample.nwb.zarr": str(other / "sample.nwb.zarr")})
    shutil.copy(shared_data / "hdf5" / "extlink.nwb", home / "extlink.nwb")
    with h5py.File(home / "extlink.nwb", "r+") as fh:
        for name in ("data", "timestamps"):
            del fh[f"acquisition/ext/{name}"]
            fh[f"acquisition/ext/{name}"] = h5py.ExternalLink(str(other / "sample.nwb"), f"/acquisition/ts/{name}")
    return {"other": other, "home": home}


@pytest.mark.parametrize("source", ["extlink.nwb.zarr", "extlink.nwb"])
def test_convert_refuses_links_leaving_the_source_directory(elsewhere, source, tmp_path):
    result = runner.invoke(app, ["convert", str(elsewhere["home"] / source), str(tmp_path / "out")])
    assert result.exit_code != 0
    assert isinstance(result.exception, ExternalLinkError)
    assert "/acquisition/ext/data" in str(result.exception)
    assert "--links local" in str(result.exception)
    assert not (tmp_path / "out").exists()


def test_convert_zarr_to_hdf5_with_links_local(elsewhere, tmp_path):
    out = tmp_path / "extlink.nwb"
    result = runner.invoke(app, ["convert", "--links", "local", str(elsewhere["home"] / "extlink.nwb.zarr"),
                                 str(out)])
    assert result.exit_code == 0, result.output
    with h5py.File(out, "r") as fh, h5py.File(elsewhere["other"] / "sample.nwb", "r") as sample:
        link = fh["acquisition/ext"].get("data", getlink=True)
        assert isinstance(link, h5py.ExternalLink)
        np.testing.assert_array_equal(fh["acquisition/ext/data"][:], sample["acquisition/ts/data"][:])


def test_convert_hdf5_to_zarr_with_links_local(elsewhere, tmp_path):
    out = tmp_path / "extlink.nwb.zarr"
    result = runner.invoke(app, ["convert", "--external-links", "local", str(elsewhere["home"] / "extlink.nwb"),
                                 str(out)])
    assert result.exit_code == 0, result.output
    from nwbzarr import read_nwb

    expected = read_nwb(elsewhere["other"] / "sample.nwb.zarr").acquisition["ts"].data[:]
    np.testing.assert_array_equal(read_nwb(out, external_links="local").acquisition["ext"].data[:], expected)


def test_convert_rejects_an_unknown_policy(elsewhere, tmp_path):
    result = runner.invoke(app, ["convert", "--links", "all", str(elsewhere["home"] / "extlink.nwb"),
                                 str(tmp_path / "out")], env={"COLUMNS": "300"})
    assert result.exit_code != 0
    assert "unknown policy 'all': use none, relative, local, any" in result.output


@pytest.mark.parametrize("place", ["scalar", "dataset", "compound", "region"])
def test_convert_checks_dataset_references_before_creating_the_target(tmp_path, place):
    """References held in datasets are resolved lazily when read; convert resolves one per other store first,
    so a refused one stops it before the target exists (and before any request is made)."""
    from _link_stores import PLACES, counting_server, write_linking_store, write_target

    served = tmp_path / "served"
    served.mkdir()
    write_target(served / "target.zarr", 3)
    with counting_server(served) as (base, requests):
        store = write_linking_store(tmp_path / "hostile.zarr", served / "target.zarr", place,
                                    f"{base}/target.zarr", 3)
        result = runner.invoke(app, ["convert", str(store), str(tmp_path / "out.nwb")])
        assert requests == []
    assert isinstance(result.exception, ExternalLinkError)
    assert PLACES[place] in str(result.exception)
    assert not (tmp_path / "out.nwb").exists()


@pytest.mark.parametrize("folder", ["hdmf_zarr_0.13", "hdmf_zarr_0.14"])
def test_info_and_migrate_never_open_a_linked_url(shared_data, tmp_path, folder):
    """``info`` shows the link and ``migrate`` copies it as written; neither contacts the URL."""
    from _link_stores import counting_server

    served = tmp_path / "served"
    shutil.copytree(shared_data / folder / "sample.nwb.zarr", served / "sample.nwb.zarr")
    with counting_server(served) as (base, requests):
        url = f"{base}/sample.nwb.zarr"
        store = shutil.copytree(shared_data / folder / "extlink.nwb.zarr", tmp_path / "extlink.nwb.zarr")
        replace_sources(store, {"../sample.nwb.zarr": url})
        info = runner.invoke(app, ["info", str(store)])
        assert info.exit_code == 0, info.output
        assert f"data -> {url}:/acquisition/ts/data" in info.output
        migrated = runner.invoke(app, ["migrate", str(store), str(tmp_path / "migrated.nwb.zarr")])
        assert migrated.exit_code == 0, migrated.output
        assert requests == []
