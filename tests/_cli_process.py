"""Run the installed ``nwbzarr`` program in a subprocess, on the nwbzarr source this test process imported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nwbzarr

SOURCE = Path(nwbzarr.__file__).resolve().parents[1]  # the src/ folder the subprocess must import too
BUNDLED_SAMPLE = Path(nwbzarr.__file__).resolve().parent / "data" / "sample.nwb"


def nwbzarr_program() -> str:
    """The ``nwbzarr`` entry point installed beside this interpreter (``pip install -e .`` puts it there)."""
    beside = Path(sys.executable).with_name("nwbzarr")
    found = str(beside) if beside.is_file() else shutil.which("nwbzarr")
    assert found, "the nwbzarr program is not installed (pip install -e .)"
    return found


def run_nwbzarr(*args: str, cwd: Path, env: dict[str, str] | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``nwbzarr ARGS`` in ``cwd``: exit code, stdout and stderr as text; ``NWBZARR_DEBUG`` unset unless given."""
    environment = {k: v for k, v in os.environ.items() if k != "NWBZARR_DEBUG"}
    environment.update({"PYTHONPATH": os.pathsep.join([str(SOURCE), environment.get("PYTHONPATH", "")]),
                        "COLUMNS": "200"})
    environment.update(env or {})
    return subprocess.run([nwbzarr_program(), *args], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=timeout)


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines of stderr (progress bars and warnings aside there should be none but the error's)."""
    return [line for line in result.stderr.splitlines() if line.strip()]
