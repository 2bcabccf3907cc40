"""Local store URLs read as file URLs (RFC 8089), the same for every store kind: ``sqlite:///tmp/x.sqldb`` is
``/tmp/x.sqldb``, ``sqlite://x.sqldb`` is relative to the working directory, ``sqlite:////tmp/x.sqldb`` (the
old absolute spelling) still names ``/tmp/x.sqldb``; malformed URLs are refused naming the right spelling."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from nwbzarr.storage import open_store
from nwbzarr.storage.local_urls import LOCAL_URL_SCHEMES, local_url_path, malformed_local_url
from nwbzarr.storage.url import location_exists

SEGMENT = st.text(st.characters(codec="utf-8", exclude_characters="/\x00", exclude_categories=("Cs",)),
                  min_size=1, max_size=12).filter(lambda s: s not in (".", "..") and ":" not in s)
# one URL per local store kind, each naming a store at {path}; every one is written and found there
STORE_URLS = {
    "sqlite": "sqlite://{path}.sqldb",
    "lmdb": "lmdb://{path}.lmdb",
    "dbm": "dbm://{path}.dbm",
    "h5container": "h5container://{path}.h5c",
    "zipcontainer": "zipcontainer://{path}.zc",
    "icechunk": "icechunk://{path}.icechunk",
    "file": "file://{path}.zarr",
}


@settings(max_examples=200, deadline=None)
@given(scheme=st.sampled_from(LOCAL_URL_SCHEMES), parts=st.lists(SEGMENT, min_size=1, max_size=4))
def test_every_scheme_reads_absolute_relative_and_escaped_paths_alike(scheme: str, parts: list[str]) -> None:
    rel = "/".join(parts)
    escaped = "/".join(quote(p, safe="") for p in parts)
    assert local_url_path(f"{scheme}:///{escaped}") == "/" + rel
    assert local_url_path(f"{scheme}:////{escaped}") == "/" + rel  # the old absolute spelling
    assert local_url_path(f"{scheme}://localhost/{escaped}") == "/" + rel
    if not rel.startswith("~") and parts[0] != "localhost":  # those two are the home directory and a host
        assert local_url_path(f"{scheme}://{escaped}") == rel


def test_windows_drive_letters_and_the_home_directory() -> None:
    assert local_url_path("sqlite:///C:/data/x.sqldb") == "C:/data/x.sqldb"
    assert local_url_path("lmdb://D:/x.lmdb") == "D:/x.lmdb"
    assert local_url_path("dbm://~/x.dbm") == os.path.expanduser("~/x.dbm")
    assert local_url_path("icechunk:///dir?branch=dev", allow_query=True) == "/dir"


@pytest.mark.parametrize(("url", "message"), [
    ("sqlite://", "names no file or folder: use sqlite:///absolute/path or sqlite://relative/path"),
    ("lmdb:///", "names no file or folder"),
    ("dbm://localhost/", "names no file or folder"),
    ("sqlite://db.example.org:5432/x.sqldb", "names a local path, not a host ('db.example.org:5432')"),
    ("sqlite:///x.sqldb?mode=ro", "takes no query or fragment"),
    ("h5container:///x.h5c#frag", "takes no query or fragment"),
])
def test_malformed_urls_are_refused_naming_the_problem(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        local_url_path(url)
    with pytest.raises(ValueError, match="names no|not a host|takes no query"):
        open_store(url, mode="w")


@pytest.mark.parametrize("url", ["sqlite:/x.sqldb", "lmdb:x.lmdb", "ZIPCONTAINER:/a", "icechunk+file:/r"])
def test_a_scheme_without_slashes_is_malformed_not_a_local_path(url: str, tmp_path: Path, monkeypatch) -> None:
    from nwbzarr import NWBZarrIO

    monkeypatch.chdir(tmp_path)
    assert "malformed URL" in (malformed_local_url(url) or "")
    with pytest.raises(ValueError, match="malformed URL .* use .*:///absolute/path or .*://relative/path"):
        open_store(url, mode="w")
    with pytest.raises(ValueError, match="malformed URL"):
        NWBZarrIO(url, mode="w")
    assert list(tmp_path.iterdir()) == []  # nothing was created under a name such as 'sqlite:'


@pytest.mark.parametrize("path", ["C:/data/x.zarr", "c:\\x.zarr", "data/x.sqldb", "sqlite.sqldb", "s3"])
def test_paths_are_not_mistaken_for_malformed_urls(path: str) -> None:
    assert malformed_local_url(path) is None


@pytest.mark.parametrize("kind", sorted(STORE_URLS))
def test_three_slashes_name_an_absolute_path_and_two_a_relative_one(kind: str, tmp_path: Path, monkeypatch) -> None:
    """Each store kind: 'scheme:///abs' writes at /abs (not ./abs, SQLAlchemy's reading), 'scheme://rel'
    below the working directory; both read back, and location_exists finds them."""
    if kind == "icechunk":
        pytest.importorskip("icechunk")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    absolute = STORE_URLS[kind].format(path=f"{tmp_path}/abs/x")  # tmp_path is absolute: three slashes
    assert absolute.split("://", 1)[1].startswith("/") and not absolute.split("://", 1)[1].startswith("//")
    relative = STORE_URLS[kind].format(path="rel/x")
    for url, where in ((absolute, tmp_path / "abs"), (relative, work / "rel")):
        where.mkdir()
        assert not location_exists(url)
        _write_and_read(url)
        assert location_exists(url), url
        names = {p.name for p in where.iterdir() if not p.name.startswith(".")}  # dbm.dumb adds .dat, .dir
        assert names and all(n.startswith(f"x{_suffix(url)}") for n in names), names
    assert sorted(p.name for p in work.iterdir()) == ["rel"]  # nothing under ./tmp/... for the absolute one


def _suffix(url: str) -> str:
    return "." + url.rsplit(".", 1)[1]


def _write_and_read(url: str) -> None:
    store = open_store(url, mode="w")
    arr = zarr.create_array(store, name="a", shape=(6,), chunks=(2,), dtype="i4")
    arr[...] = np.arange(6)
    _close(store)
    again = open_store(url, mode="r")
    np.testing.assert_array_equal(zarr.open_array(again, path="a")[...], np.arange(6))
    _close(again)


def _close(store) -> None:
    commit = getattr(store, "commit_transaction", None)
    if callable(commit):  # an Icechunk session keeps its writes until committed
        commit()
    store.close()


@pytest.fixture(scope="module")
def sqlite_nwb(tmp_path_factory) -> Path:
    """The bundled sample NWB file converted to an SQLite store at an absolute path."""
    from nwbzarr.convert import convert

    target = tmp_path_factory.mktemp("sq") / "s.nwb.sqldb"
    convert(str(resources.files("nwbzarr") / "data" / "sample.nwb"), f"sqlite://{target}")
    return target


def test_info_summarises_an_sqlite_url_as_the_file_it_names(sqlite_nwb: Path, monkeypatch) -> None:
    from nwbzarr.info import summarise

    by_path = summarise(str(sqlite_nwb))
    assert by_path[0].path == "" and by_path[0].neurodata_type == "NWBFile" and len(by_path) > 10
    assert summarise(f"sqlite://{sqlite_nwb}") == by_path
    assert summarise(f"sqlite:///{sqlite_nwb}") == by_path  # four slashes: the old absolute spelling
    monkeypatch.chdir(sqlite_nwb.parent)
    assert summarise("sqlite://s.nwb.sqldb") == by_path


def test_the_nwbzarr_command_prints_the_tree_of_an_sqlite_url(sqlite_nwb: Path) -> None:
    command = Path(sys.executable).parent / "nwbzarr"
    proc = subprocess.run([str(command), "info", f"sqlite://{sqlite_nwb}"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "/ <NWBFile>"
    assert "ElectricalSeries" in proc.stdout


def test_the_readme_store_url_section_says_what_the_code_does() -> None:
    """Each "`URL` is `path`" of the README's Store URLs section holds, and every local example in its
    table names a file under /data."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Store URLs\n", 1)[1].split("\n## ", 1)[0]
    claims = re.findall(r"`([a-z0-9+]+://[^`]*)` is `([^`]*)`", section)
    assert len(claims) >= 2
    for url, path in claims:
        assert os.path.normpath(local_url_path(url)) == os.path.normpath(path), url
    table = "\n".join(row for row in section.splitlines() if row.startswith("| "))
    for url in re.findall(r"`([a-z0-9+]+://[^`]*)`", table):
        if url.split("://", 1)[0] in LOCAL_URL_SCHEMES:
            assert local_url_path(url, allow_query=True).startswith("/data/session.nwb"), url
    kinds = {row.split("|")[1].strip() for row in table.splitlines()}
    assert {"SQLite", "LMDB", "DBM", "HDF5 containers", "Zip containers", "Icechunk", "Redis", "MongoDB"} <= kinds


@pytest.mark.parametrize("kind", ["sqlite", "lmdb", "dbm", "h5container", "zipcontainer"])
def test_reading_an_old_style_relative_url_names_the_new_spelling(kind: str, tmp_path: Path, monkeypatch) -> None:
    """'sqlite:///x.sqldb' meant ./x.sqldb before; now it is /x.sqldb: reading it while only ./x.sqldb exists
    says which URL to write instead of opening (or failing on) /x.sqldb."""
    monkeypatch.chdir(tmp_path)
    name = f"old-style-{os.getpid()}.{kind}"
    _write_and_read(f"{kind}://{name}")
    with pytest.raises(FileNotFoundError, match=rf"three slashes start an absolute path; write {kind}://{name} "):
        open_store(f"{kind}:///{name}", mode="r")
    assert not os.path.exists(f"/{name}")
