"""The command line: demo, convert both ways, info."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from _h5_snapshot import cached_specs, snapshot
from nwbzarr.cli import app

runner = CliRunner()


def test_demo_converts_the_bundled_sample_and_prints_its_tree(tmp_path):
    out = tmp_path / "demo.nwb.zarr"
    result = runner.invoke(app, ["demo", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "ElectricalSeries" in result.output and "blosc-lz4" in result.output
    assert (out / "zarr.json").exists()


def test_convert_both_ways_and_info(shared_data, tmp_path):
    src = tmp_path / "sample.nwb"
    shutil.copy(shared_data / "hdf5" / "sample.nwb", src)
    result = runner.invoke(app, ["convert", str(src), str(tmp_path / "s.nwb.zarr")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["convert", str(tmp_path / "s.nwb.zarr"), str(tmp_path / "back.nwb")])
    assert result.exit_code == 0, result.output
    info = runner.invoke(app, ["info", str(tmp_path / "s.nwb.zarr")])
    assert info.exit_code == 0, info.output
    assert "ts_linked/ <TimeSeries>" in info.output
    assert "timestamps -> .:/acquisition/ts/timestamps  (link)" in info.output
    assert "int16 [10, 2]" in info.output


def test_convert_refuses_to_overwrite(tmp_path, shared_data):
    target = tmp_path / "exists.nwb.zarr"
    target.mkdir()
    result = runner.invoke(app, ["convert", str(shared_data / "hdf5" / "sample.nwb"), str(target)])
    assert result.exit_code != 0
    assert "exists" in str(result.exception)


def test_convert_of_something_else_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.txt"
    junk.write_text("not a file format")
    result = runner.invoke(app, ["convert", str(junk), str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "neither an HDF5 file nor a Zarr store" in str(result.exception)


@pytest.mark.parametrize("zarr_format", ["3", "2"])
def test_convert_keeps_an_old_files_own_schema_both_ways(shared_data, tmp_path, zarr_format):
    """`nwbzarr convert` on an NWB 2.1.0 file: core 2.1.0 / hdmf-common 1.0.0 stay, text for text, both ways."""
    src = tmp_path / "old.nwb"
    shutil.copy(shared_data / "real" / "1.1.2_nwbfile.nwb", src)
    store, back = tmp_path / "old.nwb.zarr", tmp_path / "back.nwb"
    result = runner.invoke(app, ["convert", str(src), str(store), "--zarr-format", zarr_format])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["specs", str(store)])
    assert listed.exit_code == 0, listed.output
    assert [line.split(":")[0] for line in listed.output.splitlines()] == ["core 2.1.0", "hdmf-common 1.0.0"]
    result = runner.invoke(app, ["convert", str(store), str(back)])
    assert result.exit_code == 0, result.output
    assert cached_specs(back) == cached_specs(src) and set(cached_specs(src)) == {"core/2.1.0", "hdmf-common/1.0.0"}
    assert snapshot(back) == snapshot(src)


@pytest.mark.parametrize("zarr_format", ["3", "2"])
def test_info_shows_fixed_length_text_a_conversion_kept(shared_data, tmp_path, zarr_format):
    store = tmp_path / "matnwb.nwb.zarr"
    result = runner.invoke(app, ["convert", str(shared_data / "real" / "ecephys_tutorial.nwb"), str(store),
                                 "--zarr-format", zarr_format])
    assert result.exit_code == 0, result.output
    info = runner.invoke(app, ["info", str(store)])
    assert info.exit_code == 0, info.output
    assert "identifier  bytes104 [1]" in info.output  # MatNWB's |S13 identifier, still fixed-length bytes
