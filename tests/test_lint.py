"""The code stays ruff-clean with the rules pyproject.toml chooses (among them: zarr's internals only
through nwbzarr._private_api, TID251)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    found = shutil.which("ruff")
    return [found] if found else [sys.executable, "-m", "ruff"]


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([*_ruff(), "check", "--no-cache", "src", "tests", "benchmarks"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_bans_zarr_internals_outside_the_private_api_module() -> None:
    """The banned-api rule is live: a library module importing zarr.core is reported (checked from stdin,
    so no file is written into the package)."""
    probe = "from zarr.core.sync import sync\n\n__all__ = ['sync']\n"
    result = subprocess.run([*_ruff(), "check", "--no-cache", "--stdin-filename", "src/nwbzarr/probe.py", "-"],
                            cwd=ROOT, input=probe, capture_output=True, text=True)
    assert result.returncode == 1 and "TID251" in result.stdout, result.stdout + result.stderr
