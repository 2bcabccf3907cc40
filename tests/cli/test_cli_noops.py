"""Issue 18, point 3: commands that did nothing and said it worked. ``refs`` of a missing object fails naming
it; ``demo`` removes its temporary folder. (``NWBZarrIO(typo, "a")``: tests/backend/test_io_lifecycle.py;
the README quickstart run twice: tests/test_readme.py.)"""

from __future__ import annotations

import pytest

from _cli_process import BUNDLED_SAMPLE, error_lines, run_nwbzarr


@pytest.mark.parametrize("folder, name", [("real", "ecephys_tutorial.nwb"), ("hdmf_zarr_0.14", "sample.nwb.zarr")])
def test_refs_of_a_missing_object_fails_naming_it(shared_data, tmp_path, folder, name):
    path = str(shared_data / folder / name)
    for obj in ("/no/such/object", "/units/spike_time", "acquisition/nope"):
        result = run_nwbzarr("refs", path, obj, cwd=tmp_path)
        lines = error_lines(result)
        assert result.returncode == 1 and result.stdout == "", result.stderr
        assert len(lines) == 1 and f"no object {obj}" in lines[0] and path in lines[0]


@pytest.mark.parametrize("name", ["hdf5/sample.nwb", "hdmf_zarr_0.14/sample.nwb.zarr", "hdmf_zarr_0.13/sample.nwb.zarr"])
def test_refs_of_an_object_nothing_refers_to_still_answers(shared_data, tmp_path, name):
    """An existing object (a group, a dataset, a link) with no referrers is an answer, not an error."""
    path = str(shared_data / name)
    for obj in ("/acquisition", "/acquisition/ts/data", "/acquisition/ts_linked/timestamps", "general/devices"):
        result = run_nwbzarr("refs", path, obj, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"referrers of {obj}:" in result.stdout
    linked = run_nwbzarr("refs", path, "/acquisition/ts/timestamps", cwd=tmp_path)
    assert "referrers of /acquisition/ts/timestamps: 1" in linked.stdout and "link:timestamps" in linked.stdout


def test_demo_leaves_no_temporary_folder(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for run in (1, 2):
        result = run_nwbzarr("demo", cwd=tmp_path, env={"TMPDIR": str(scratch)})
        assert result.returncode == 0, result.stderr
        assert "ElectricalSeries" in result.stdout and str(scratch) in result.stdout
        assert list(scratch.iterdir()) == [], f"run {run} left {list(scratch.iterdir())}"
    kept = run_nwbzarr("demo", "--output", "kept.nwb.zarr", cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    assert (tmp_path / "kept.nwb.zarr" / "zarr.json").is_file() and str(BUNDLED_SAMPLE.name) in kept.stdout
    again = run_nwbzarr("demo", "--output", "kept.nwb.zarr", cwd=tmp_path)  # --output replaces, as before
    assert again.returncode == 0, again.stderr
