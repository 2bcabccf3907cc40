"""Issue 18, point 2: the output name decides the format (.nwb/.h5/.hdf5: HDF5; .zarr and store names or
URLs: Zarr); a name that asks for another format than the command writes is refused naming the fix, and
``--to`` keeps any name for a format the command can write."""

from __future__ import annotations

import h5py
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _cli_process import BUNDLED_SAMPLE, error_lines, run_nwbzarr
from nwbzarr import NWBZarrIO
from nwbzarr.output_names import check_output, format_of_name, suggested_name

SAMPLE = str(BUNDLED_SAMPLE)


@pytest.mark.parametrize("name, expected", [
    ("copy.nwb", "hdf5"), ("copy.h5", "hdf5"), ("COPY.HDF5", "hdf5"), ("dir/x.nwb", "hdf5"),
    ("s3://bucket/x.nwb", "hdf5"), ("file:///tmp/x.h5", "hdf5"),
    ("copy.nwb.zarr", "zarr"), ("copy.zarr/", "zarr"), ("x.nwb.zip", "zarr"), ("x.nwb.sqldb", "zarr"),
    ("x.lmdb", "zarr"), ("s3://bucket/x.nwb.zarr", "zarr"), ("https://h/x.zarr?token=1", "zarr"),
    ("sqlite:///x.sqldb", "zarr"), ("sqlite:///x.nwb", "zarr"), ("lmdb:///x", "zarr"), ("redis://h:6379/0", "zarr"),
    ("mongodb://h/db?collection=c", "zarr"), ("icechunk:///repo", "zarr"), ("memory://", "zarr"),
    ("out", None), ("dir/copy", None), ("s3://bucket/prefix", None), ("x.nwb.json", None),
])
def test_format_of_name(name, expected):
    assert format_of_name(name) == expected


NAMES = st.text(st.sampled_from("abcxyz_-0123"), min_size=1, max_size=12)


@given(base=NAMES, hdf5=st.sampled_from([".nwb", ".h5", ".hdf5"]), folder=st.sampled_from(["", "d/", "s3://b/"]))
def test_every_hdf5_name_is_refused_for_zarr_with_a_name_that_is_accepted(base, hdf5, folder):
    name = folder + base + hdf5
    assert format_of_name(name) == "hdf5"
    with pytest.raises(ValueError, match="--to zarr") as exc:
        check_output(name, "zarr", "convert", "from an HDF5 file")
    assert repr(name) in str(exc.value)
    suggestion = eval(suggested_name(name, "zarr"))  # a quoted name
    assert suggestion in str(exc.value)
    check_output(suggestion, "zarr", "convert", "from an HDF5 file")  # accepted
    check_output(name, "zarr", "convert", "from an HDF5 file", to="zarr")  # --to keeps the name
    check_output(name, "hdf5", "convert", "from a Zarr store")


@given(base=NAMES, zarr=st.sampled_from([".zarr", ".nwb.zarr", ".zip", ".sqldb", ".lmdb"]))
def test_every_zarr_name_is_refused_for_hdf5_with_a_name_that_is_accepted(base, zarr):
    name = base + zarr
    with pytest.raises(ValueError, match="--to hdf5") as exc:
        check_output(name, "hdf5", "truncate", "(the source's format)")
    suggestion = eval(suggested_name(name, "hdf5"))
    assert suggestion in str(exc.value) and format_of_name(suggestion) == "hdf5"
    check_output(suggestion, "hdf5", "truncate", "(the source's format)")


def test_to_must_be_a_format_the_command_writes():
    with pytest.raises(ValueError, match=r"cannot write an HDF5 file \(drop --to hdf5\)"):
        check_output("x.nwb", "zarr", "convert", "from an HDF5 file", to="hdf5")


@pytest.fixture
def zarr_store(tmp_path):
    result = run_nwbzarr("convert", SAMPLE, "sample.nwb.zarr", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path / "sample.nwb.zarr"


def written(folder) -> list[str]:
    """What is in ``folder``, leaving out the writer-lock files beside stores."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".nwbzarr-lock"))


def assert_refused(result, *named: str) -> None:
    lines = error_lines(result)
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("nwbzarr: error: "), result.stderr
    for text in named:
        assert text in lines[0], (text, lines[0])


@pytest.mark.parametrize("name", ["copy.nwb", "copy.h5", "copy.hdf5"])
def test_convert_to_zarr_refuses_an_hdf5_name(tmp_path, name):
    result = run_nwbzarr("convert", SAMPLE, name, cwd=tmp_path)
    assert_refused(result, repr(name), repr(name + ".zarr"), "--to zarr")
    assert not (tmp_path / name).exists()


def test_convert_to_hdf5_refuses_a_zarr_name(zarr_store, tmp_path):
    for name in ("back.nwb.zarr", "back.zip", "sqlite:///back.sqldb"):
        assert_refused(run_nwbzarr("convert", str(zarr_store), name, cwd=tmp_path), repr(name), "--to hdf5")
    assert written(tmp_path) == ["sample.nwb.zarr"]


def test_to_keeps_a_name_and_writes_that_format(zarr_store, tmp_path):
    result = run_nwbzarr("convert", SAMPLE, "copy.nwb", "--to", "zarr", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with NWBZarrIO(tmp_path / "copy.nwb", "r") as io:
        assert io.read().acquisition["ephys"].data.shape[0] > 0
    result = run_nwbzarr("convert", str(zarr_store), "back.zarr", "--to", "hdf5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert h5py.is_hdf5(tmp_path / "back.zarr")


def test_to_a_format_the_command_cannot_write_is_refused(zarr_store, tmp_path):
    assert_refused(run_nwbzarr("convert", SAMPLE, "x.nwb.zarr", "--to", "hdf5", cwd=tmp_path), "--to",
                   "cannot write an HDF5 file")
    assert_refused(run_nwbzarr("truncate", str(zarr_store), "t.nwb.zarr", "--to", "hdf5", cwd=tmp_path), "--to")
    assert written(tmp_path) == ["sample.nwb.zarr"]


def test_names_without_a_format_keep_the_direction(zarr_store, tmp_path):
    """A name with none of the suffixes (``out``) gets what the command writes, as before issue 18."""
    assert run_nwbzarr("convert", SAMPLE, "out", cwd=tmp_path).returncode == 0
    assert (tmp_path / "out" / "zarr.json").is_file()
    assert run_nwbzarr("convert", str(zarr_store), "back", cwd=tmp_path).returncode == 0
    assert h5py.is_hdf5(tmp_path / "back")


def test_truncate_keeps_the_source_format_and_checks_the_name(zarr_store, tmp_path):
    assert_refused(run_nwbzarr("truncate", SAMPLE, "t.nwb.zarr", cwd=tmp_path), "'t.nwb.zarr'", "'t.nwb'")
    assert_refused(run_nwbzarr("truncate", str(zarr_store), "t.nwb", cwd=tmp_path), "'t.nwb'", "'t.nwb.zarr'")
    assert not (tmp_path / "t.nwb").exists() and not (tmp_path / "t.nwb.zarr").exists()
    result = run_nwbzarr("truncate", SAMPLE, "t.nwb.zarr", "--to", "hdf5", "-n", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert h5py.is_hdf5(tmp_path / "t.nwb.zarr")
    result = run_nwbzarr("truncate", str(zarr_store), "small.nwb.zarr", "-n", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with NWBZarrIO(tmp_path / "small.nwb.zarr", "r") as io:
        assert io.read().acquisition["ephys"].data.shape[0] == 2


def test_migrate_and_demo_write_zarr_and_refuse_an_hdf5_name(zarr_store, tmp_path):
    assert_refused(run_nwbzarr("migrate", str(zarr_store), "legacy.nwb", "--to", "v2", cwd=tmp_path),
                   "'legacy.nwb'", "'legacy.nwb.zarr'")
    assert_refused(run_nwbzarr("demo", "--output", "demo.nwb", cwd=tmp_path), "'--output'", "'demo.nwb'",
                   "'demo.nwb.zarr'")
    assert "--to" not in run_nwbzarr("demo", "--output", "demo.nwb", cwd=tmp_path).stderr  # demo has none
    assert written(tmp_path) == ["sample.nwb.zarr"]
