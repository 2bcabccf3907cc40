"""Issue 18, point 1: every ordinary mistake at the shell gets one or two lines on stderr naming the path or the
option and the fix, exit code 2 for a usage error and 1 for a failure, and a traceback only when asked for."""

from __future__ import annotations

import contextlib
import io
import shutil
from importlib import metadata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nwbzarr
from _cli_process import BUNDLED_SAMPLE, error_lines, run_nwbzarr
from nwbzarr import cli_errors
from nwbzarr.cli import main

SAMPLE = str(BUNDLED_SAMPLE)


def assert_short_error(result, code: int, *named: str) -> None:
    """Exit ``code``, nothing on stdout, one or two stderr lines starting ``nwbzarr: error:`` naming ``named``."""
    lines = error_lines(result)
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert 1 <= len(lines) <= 2 and lines[0].startswith("nwbzarr: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for text in named:
        assert text in lines[0], (text, lines[0])


@pytest.mark.parametrize("args, option", [
    (["convert", SAMPLE, "out.nwb.zarr", "--jobs", "0"], "--jobs"),
    (["convert", SAMPLE, "out.nwb.zarr", "--zarr-format", "4"], "--zarr-format"),
    (["convert", SAMPLE, "out.nwb.zarr", "--links", "all"], "--links"),
    (["convert", SAMPLE, "out.nwb.zarr", "--to", "parquet"], "--to"),
    (["convert", SAMPLE, "out.nwb.zarr", "--storage-option", "anon"], "--storage-option"),
    (["graph", SAMPLE, "--format", "png"], "--format"),
    (["truncate", SAMPLE, "out.nwb", "-n", "-1"], "-n"),
    (["migrate", "in.nwb.zarr", "out.nwb.zarr", "--to", "v9"], "--to"),
    (["convert", SAMPLE], "'target'"),
    (["convert", SAMPLE, "out.nwb.zarr", "--no-such-option"], "--no-such-option"),
    (["frobnicate"], "frobnicate"),
])
def test_usage_errors_exit_2_naming_the_option_and_create_nothing(tmp_path, args, option):
    result = run_nwbzarr(*args, cwd=tmp_path)
    assert_short_error(result, 2, option, "--help")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, named", [
    (["convert", "missing.nwb", "out.nwb.zarr"], ["missing.nwb", "no such file"]),
    (["info", "missing.nwb.zarr"], ["missing.nwb.zarr", "no such file"]),
    (["graph", "missing.nwb"], ["missing.nwb", "no such file"]),
    (["refs", SAMPLE, "/no/such/object"], ["/no/such/object", "no object"]),
    (["verify", SAMPLE], [SAMPLE, "HDF5 file", "nwbzarr convert"]),
    (["migrate", SAMPLE, "out.nwb.zarr"], [SAMPLE, "HDF5 file"]),
])
def test_failures_exit_1_naming_the_path(tmp_path, args, named):
    result = run_nwbzarr(*args, cwd=tmp_path)
    assert_short_error(result, 1, *named)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_nwb_is_a_failure_naming_it(tmp_path):
    """`nwbzarr specs README.md`, and the other commands reading a file, name it and what they read."""
    (tmp_path / "README.md").write_text("# not an NWB file\n")
    for command in ("specs", "info", "graph"):
        result = run_nwbzarr(command, "README.md", cwd=tmp_path)
        assert_short_error(result, 1, "README.md", "neither an HDF5 file nor a Zarr store", "(.nwb")


def test_an_existing_target_is_a_failure_naming_it_and_overwrite(tmp_path):
    (tmp_path / "out.nwb.zarr").mkdir()
    result = run_nwbzarr("convert", SAMPLE, "out.nwb.zarr", cwd=tmp_path)
    assert_short_error(result, 1, "out.nwb.zarr", "--overwrite")
    shutil.copy(SAMPLE, tmp_path / "t.nwb")
    result = run_nwbzarr("truncate", SAMPLE, "t.nwb", cwd=tmp_path)
    assert_short_error(result, 1, "t.nwb", "--overwrite")


def test_debug_shows_the_traceback(tmp_path):
    args = ["convert", "missing.nwb", "out.nwb.zarr"]
    for result in (run_nwbzarr("--debug", *args, cwd=tmp_path),
                   run_nwbzarr(*args, cwd=tmp_path, env={"NWBZARR_DEBUG": "1"})):
        assert result.returncode == 1
        assert "Traceback (most recent call last)" in result.stderr and "FileNotFoundError" in result.stderr
        assert result.stderr.rstrip().splitlines()[-1].startswith("nwbzarr: error: missing.nwb")
    assert "Traceback" not in run_nwbzarr(*args, cwd=tmp_path, env={"NWBZARR_DEBUG": "0"}).stderr


def test_version(tmp_path):
    result = run_nwbzarr("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"nwbzarr {nwbzarr.__version__} (zarr {metadata.version('zarr')}, ")
    assert nwbzarr.__version__ == metadata.version("nwbzarr")


def test_help_is_not_an_error(tmp_path):
    result = run_nwbzarr("convert", "--help", cwd=tmp_path)
    assert result.returncode == 0 and "--overwrite" in result.stdout and "--to" in result.stdout


def _main(argv: list[str]) -> tuple[int, str]:
    """``nwbzarr ARGV`` in this process (fast, for many generated cases): exit code and stderr."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        with pytest.raises(SystemExit) as exited:
            main(argv)
    return exited.value.code, stderr.getvalue()


@settings(max_examples=40, deadline=None)
@given(jobs=st.integers(max_value=0).filter(lambda n: n != -1))
def test_any_bad_jobs_value_is_a_usage_error_before_any_work(jobs):
    code, err = _main(["convert", "does-not-exist.nwb", "x.nwb.zarr", f"--jobs={jobs}"])
    assert code == 2 and err.startswith("nwbzarr: error: Invalid value for '--jobs'") and str(jobs) in err


@settings(max_examples=40, deadline=None)
@given(fmt=st.integers().filter(lambda n: n not in (2, 3)))
def test_any_bad_zarr_format_is_a_usage_error_before_any_work(fmt):
    code, err = _main(["convert", "does-not-exist.nwb", "x.nwb.zarr", f"--zarr-format={fmt}"])
    assert code == 2 and "'--zarr-format'" in err and "use 3" in err and err.count("\n") == 1


def test_an_unexpected_error_says_how_to_get_the_traceback(capsys):
    assert cli_errors.report_failure(KeyError("acquisition"), debug=False) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["nwbzarr: error: KeyError: 'acquisition'",
                     "nwbzarr: this is unexpected: rerun with --debug (or NWBZARR_DEBUG=1) for the traceback, "
                     "and report it"]
    assert cli_errors.report_failure(FileExistsError("x.nwb exists"), debug=False) == 1
    assert capsys.readouterr().err == "nwbzarr: error: x.nwb exists\n"
