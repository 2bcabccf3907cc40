"""The README's Python quickstart runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_quickstart_runs_twice_in_the_same_folder(tmp_path, capsys):
    """As written, and again where the first run left its files (issue 18: the second run must not fail)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has no python quickstart"
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for run in (1, 2):
            exec(compile(blocks[0], str(README), "exec"), {})
            assert "[0 1 2 3 4 5 6 7 8 9]" in capsys.readouterr().out, f"run {run}"
            for name in ("demo.nwb.zarr", "demo.nwb", "copy.nwb.zarr", "export.nwb.zarr"):
                assert (tmp_path / name).exists(), f"{name} after run {run}"
    finally:
        os.chdir(cwd)


def test_readme_names_the_two_setup_commands():
    text = README.read_text()
    assert "nwbzarr demo" in text and "bash scripts/test" in text
    assert "bash scripts/test" in (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text() or \
        "scripts/test" in (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
