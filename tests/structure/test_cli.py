"""The graph, refs, truncate and specs commands."""

from __future__ import annotations

import json

import h5py
from typer.testing import CliRunner

from nwbzarr.cli import app

from .conftest import shared_file

runner = CliRunner()


def test_graph_formats(tmp_path):
    sample = str(shared_file("hdf5", "sample.nwb"))
    result = runner.invoke(app, ["graph", sample])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"source": "/acquisition/ts_linked", "target": "/acquisition/ts/timestamps", "label": "link",
            "name": "timestamps"} in data["edges"]
    out = tmp_path / "g.dot"
    assert runner.invoke(app, ["graph", sample, "--format", "dot", "-o", str(out)]).exit_code == 0
    assert out.read_text().startswith("digraph nwb {")
    bad = runner.invoke(app, ["graph", sample, "--format", "png"])
    assert bad.exit_code != 0 and "unknown format" in bad.output


def test_refs_and_specs():
    result = runner.invoke(app, ["refs", str(shared_file("real", "ecephys_tutorial.nwb")), "/units/spike_times"])
    assert result.exit_code == 0, result.output
    assert "referrers of /units/spike_times: 4" in result.stdout and "region=[[4, 8, 1]]" in result.stdout
    specs = runner.invoke(app, ["specs", str(shared_file("hdmf_zarr_0.14", "sample.nwb.zarr"))])
    assert specs.exit_code == 0 and "hdmf-common 1.10.0: base, namespace, resources, sparse, table" in specs.stdout
    empty = runner.invoke(app, ["specs", str(shared_file("real", "ecephys_tutorial.nwb"))])
    assert "no cached specifications" in empty.stdout


def test_truncate_command(tmp_path):
    out = tmp_path / "t.nwb"
    result = runner.invoke(app, ["truncate", str(shared_file("hdf5", "sample.nwb")), str(out), "-n", "3"])
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        assert f["acquisition/ts/data"].shape == (3,)
    again = runner.invoke(app, ["truncate", str(shared_file("hdf5", "sample.nwb")), str(out)])
    assert again.exit_code != 0 and isinstance(again.exception, FileExistsError)
