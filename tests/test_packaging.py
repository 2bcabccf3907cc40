"""Packaging: the wheel's metadata (project URLs, classifiers, authors, py.typed, the bundled sample; no
benchmarks), the extras the README promises, and, in the environment the tests run in (CI: Python 3.11 and
3.12, each installed with ``nwbzarr[all]`` through the test extra), every feature of ``nwbzarr[all]``
importing and opening for real."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
README = (REPO / "README.md").read_text()
DEVELOPMENT_EXTRAS = {"test", "bench", "docs", "all"}  # for working on nwbzarr, not features of it


def extras_in(extra: str) -> set[str]:
    """``extra`` and every extra it pulls in through ``nwbzarr[...]`` requirements."""
    found, todo = set(), [extra]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for line in PYPROJECT["project"]["optional-dependencies"][name]:
            req = Requirement(line)
            if req.name == "nwbzarr":
                todo.extend(req.extras)
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from this checkout's pyproject.toml, README.md and src/ (copied, so the build leaves
    nothing in the checkout)."""
    tree = tmp_path_factory.mktemp("tree")
    shutil.copy(REPO / "pyproject.toml", tree)
    shutil.copy(REPO / "README.md", tree)
    shutil.copytree(REPO / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
                           "-w", str(out), str(tree)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = out.glob("nwbzarr-*.whl")
    return built


def wheel_metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(zf.read(name).decode()), zf.namelist()


def test_the_wheel_names_urls_classifiers_authors_and_is_typed(wheel: Path) -> None:
    meta, names = wheel_metadata(wheel)
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Source", "Issues", "Documentation"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values()), urls
    classifiers = set(meta.get_all("Classifier"))
    for expected in ("Programming Language :: Python :: 3.11", "Programming Language :: Python :: 3.12",
                     "Typing :: Typed", "License :: OSI Approved :: BSD License"):
        assert expected in classifiers
    assert meta["Author"] or meta["Author-email"]
    assert meta["Requires-Python"] == ">=3.11"
    assert "nwbzarr/py.typed" in names and "nwbzarr/data/sample.nwb" in names
    assert not [n for n in names if n.startswith(("benchmarks/", "tests/"))]
    assert set(meta.get_all("Provides-Extra")) >= extras_in("all")
    requires = [Requirement(r) for r in meta.get_all("Requires-Dist")]
    assert any(r.name == "portalocker" and not r.marker for r in requires)  # file locks without fcntl


def test_the_installed_package_is_typed() -> None:
    assert (resources.files("nwbzarr") / "py.typed").is_file()


def test_the_benchmarks_say_they_need_a_checkout() -> None:
    """benchmarks/ is not in the wheel (above): the README says so where it names them."""
    assert "not\nin the installed package: run them from a checkout" in README
    assert "not part of the installed package" in (REPO / "benchmarks" / "README.md").read_text()


def test_every_extra_the_readme_names_exists_and_all_brings_every_feature_extra() -> None:
    named = set(re.findall(r"nwbzarr\[([a-z0-9_-]+)\]", README))
    table = re.search(r"## Store URLs\n(.*?)\n## ", README, re.S)
    assert table, "README has no 'Store URLs' section"
    named |= set(re.findall(r"\| `([a-z]+)` \|$", table.group(1), re.M))
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    assert {"stores", "icechunk", "remote"} <= named <= extras
    feature_extras = extras - DEVELOPMENT_EXTRAS
    assert extras_in("all") - {"all"} == feature_extras
    assert named - DEVELOPMENT_EXTRAS <= extras_in("all")


@pytest.mark.parametrize("extra", sorted(extras_in("all") - {"all"}))
def test_every_requirement_of_each_extra_is_installed(extra: str) -> None:
    missing = []
    for line in PYPROJECT["project"]["optional-dependencies"][extra]:
        req = Requirement(line)
        if req.name == "nwbzarr" or (req.marker and not req.marker.evaluate()):
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            missing.append(f"{req} (not installed)")
            continue
        if not req.specifier.contains(version, prereleases=True):
            missing.append(f"{req} (installed: {version})")
    assert missing == [], f"nwbzarr[{extra}] is not satisfied: {missing}"


# ------------------------------------------------------------------ each feature, for real
def _stores(tmp_path: Path) -> None:
    import pymongo
    import redis

    from nwbzarr.storage import open_store

    _round_trip(open_store(f"lmdb://{tmp_path}/x.lmdb", mode="w"), open_store(f"lmdb://{tmp_path}/x.lmdb"))
    # the server stores' clients, configured without a server (tests/storage/ runs them against real ones)
    assert redis.Redis.from_url("redis://localhost:6379/3").connection_pool.connection_kwargs["db"] == 3
    client = pymongo.MongoClient("mongodb://localhost:27017/nwb", connect=False)
    assert client.get_default_database().name == "nwb"
    client.close()


def _icechunk(tmp_path: Path) -> None:
    from nwbzarr.storage import open_store

    store = open_store(f"icechunk://{tmp_path}/x.icechunk", mode="w")
    _round_trip(store, None)
    store.commit_transaction()
    _round_trip(None, open_store(f"icechunk://{tmp_path}/x.icechunk"))


def _remote(tmp_path: Path) -> None:
    import fsspec
    import obstore.store
    import s3fs
    from zarr.storage import ObjectStore

    assert isinstance(s3fs.S3FileSystem(anon=True), fsspec.AbstractFileSystem)
    assert fsspec.filesystem("https").protocol  # fsspec's http(s) file system: aiohttp and requests
    store = ObjectStore(obstore.store.MemoryStore())
    _round_trip(store, store)


def _dask(tmp_path: Path) -> None:
    import dask.array as da
    import distributed

    assert int(da.ones((10, 10), chunks=5).sum().compute()) == 100
    assert callable(distributed.Lock)


def _codecs(tmp_path: Path) -> None:
    import numcodecs
    from imagecodecs.numcodecs import register_codecs

    register_codecs()
    codec = numcodecs.get_codec({"id": "imagecodecs_zstd"})
    data = np.arange(1000, dtype="i4")
    assert np.array_equal(np.frombuffer(codec.decode(codec.encode(data)), dtype="i4"), data)


def _plot(tmp_path: Path) -> None:
    from nwbzarr.structure.graph import dependency_graph, plot_graph

    out = tmp_path / "graph.png"
    plot_graph(dependency_graph(str(resources.files("nwbzarr") / "data" / "sample.nwb")), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


FEATURES = {"stores": _stores, "icechunk": _icechunk, "remote": _remote, "s3": _remote, "dask": _dask,
            "codecs": _codecs, "plot": _plot}


def _round_trip(write_store, read_store) -> None:
    import zarr

    if write_store is not None:
        zarr.create_array(write_store, name="a", shape=(6,), chunks=(2,), dtype="i4")[...] = np.arange(6)
    if read_store is not None:
        assert zarr.open_array(read_store, path="a")[...].tolist() == list(range(6))


def test_every_feature_extra_has_a_check() -> None:
    assert set(FEATURES) == extras_in("all") - {"all"}


@pytest.mark.parametrize("extra", sorted(FEATURES))
def test_each_feature_of_all_works_in_the_installed_environment(extra: str, tmp_path: Path) -> None:
    FEATURES[extra](tmp_path)
