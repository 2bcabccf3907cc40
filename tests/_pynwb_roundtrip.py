"""pynwb's own integration round-trip tests, taken from pynwb's source distribution, run with NWBZarrIO.

The sdist matching the installed pynwb is fetched once with ``pip download --no-binary`` into a cache folder;
its ``tests/integration`` modules are imported under a private package name and every test class built on
``pynwb.testing``'s round-trip mixins contributes its ``test_roundtrip`` and ``test_roundtrip_export``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
import tarfile
import unittest
from collections.abc import Callable, Iterator
from pathlib import Path

import pynwb
import pynwb.testing.testh5io as testh5io

from nwbzarr import NWBZarrIO

CACHE = Path(os.environ.get("NWBZARR_TEST_VENVS", Path.home() / ".cache" / "nwbzarr-test-venvs"))
PACKAGE = "pynwb_sdist_tests"
MIXINS = (testh5io.NWBH5IOMixin, testh5io.NWBH5IOFlexMixin)
METHODS = ("test_roundtrip", "test_roundtrip_export")
# what pip prints when the index cannot be reached (no network, proxy refusing, DNS failure)
UNREACHABLE = ("NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
               "Network is unreachable", "ProxyError", "ConnectTimeout", "ReadTimeoutError",
               "No matching distribution found")


class IndexUnreachable(RuntimeError):
    """pip could not reach the package index to fetch pynwb's source distribution."""


def sdist_dir(lock: Callable[[Path], contextlib.AbstractContextManager[None]]) -> Path:
    """The unpacked sdist of the installed pynwb, downloaded once (under ``lock``) into the cache folder."""
    version = pynwb.__version__
    target = CACHE / f"pynwb-sdist-{version}"
    unpacked = target / f"pynwb-{version}"
    with lock(CACHE / f".pynwb-sdist-{version}.lock"):
        if not (unpacked / "tests" / "integration").is_dir():
            archive = _download(version, target)
            partial = target / "partial"  # unpack aside, then move into place: never a half-unpacked tree
            shutil.rmtree(partial, ignore_errors=True)
            shutil.rmtree(unpacked, ignore_errors=True)
            with tarfile.open(archive) as tar:
                tar.extractall(partial, filter="data")
            (partial / unpacked.name).rename(unpacked)
            partial.rmdir()
    return unpacked


def _download(version: str, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
           "--disable-pip-version-check", "-d", str(target), f"pynwb=={version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        if any(marker in output for marker in UNREACHABLE):
            raise IndexUnreachable(f"pip could not fetch pynwb=={version}'s sdist: {output.strip()[-400:]}")
        raise RuntimeError(f"pip download of pynwb=={version} failed:\n{output}")
    archives = sorted(target.glob(f"pynwb-{version}.tar.gz"))
    if not archives:
        raise RuntimeError(f"pip download of pynwb=={version} produced no sdist in {target}:\n{output}")
    return archives[0]


def roundtrip_cases(sdist: Path) -> dict[str, tuple[type[unittest.TestCase], str]]:
    """``{test id: (TestCase class, method)}`` for every round-trip mixin test in ``tests/integration``."""
    _register_package(sdist / "tests")
    cases: dict[str, tuple[type[unittest.TestCase], str]] = {}
    for path in sorted((sdist / "tests" / "integration").rglob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        if "H5IOMixin" not in text and "H5IOFlexMixin" not in text:
            continue
        rel = path.relative_to(sdist / "tests").with_suffix("")
        module = importlib.import_module(".".join((PACKAGE, *rel.parts)))
        for cls in _mixin_test_classes(module):
            for method in METHODS:
                cases[f"{'/'.join(rel.parts[1:])}::{cls.__name__}::{method}"] = (cls, method)
    return cases


def _register_package(tests_dir: Path) -> None:
    """Import the sdist's ``tests`` folder as package ``pynwb_sdist_tests`` (its modules import relatively)."""
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(PACKAGE, tests_dir / "__init__.py",
                                                  submodule_search_locations=[str(tests_dir)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)


def _mixin_test_classes(module) -> Iterator[type[unittest.TestCase]]:
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ != module.__name__ or inspect.isabstract(cls):
            continue
        if issubclass(cls, unittest.TestCase) and issubclass(cls, MIXINS):
            yield cls


def validate_zarr(path: str, **kwargs) -> list:
    """``pynwb.validate`` on a Zarr store, through ``io=`` (pynwb picks its backend by path only for HDF5)."""
    with NWBZarrIO(path, mode="r") as io:
        return pynwb.validate(io=io, **kwargs)


def remove_test_path(path: str) -> None:
    """pynwb's ``remove_test_file`` for stores that are folders."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def zarr_patches(cls: type[unittest.TestCase]) -> list[tuple[object, str, object]]:
    """``(owner, attribute, value)`` to swap NWBHDF5IO for NWBZarrIO in pynwb's round-trip mixins and in the
    test's own module (some classes override ``roundtripContainer`` with the module's NWBHDF5IO)."""
    patches = [(testh5io, "NWBHDF5IO", NWBZarrIO), (testh5io, "pynwb_validate", validate_zarr),
               (testh5io, "remove_test_file", remove_test_path)]
    module = sys.modules[cls.__module__]
    for name, value in (("NWBHDF5IO", NWBZarrIO), ("remove_test_file", remove_test_path)):
        if hasattr(module, name):
            patches.append((module, name, value))
    return patches


def run_case(cls: type[unittest.TestCase], method: str) -> unittest.TestResult:
    """Run one unittest method (setUp, test, tearDown) and return its result."""
    result = unittest.TestResult()
    cls(method).run(result)
    return result
