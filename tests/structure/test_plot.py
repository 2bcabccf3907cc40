"""``nwbzarr graph --plot`` draws the typed-object graph to a PNG."""

from __future__ import annotations

from typer.testing import CliRunner

from nwbzarr.cli import app


def test_graph_plot_writes_a_png(shared_data, tmp_path):
    out = tmp_path / "graph.png"
    result = CliRunner().invoke(app, ["graph", str(shared_data / "hdf5" / "sample.nwb"), "--format", "json",
                                      "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000
