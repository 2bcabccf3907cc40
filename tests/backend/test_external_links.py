"""``external_links``: links and references that leave the store are followed only as the policy allows,
and a refused one is refused before any file or network access (a counting HTTP server on loopback)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _link_stores import (
    EAGER,
    PLACES,
    TARGET_VALUES,
    counting_server,
    read_place,
    replace_sources,
    write_linking_store,
    write_target,
)
from nwbzarr import ExternalLinkError, NWBZarrIO, ZarrIO, read_nwb
from nwbzarr.backend.links import POLICIES, allows

LAYOUTS = [2, 3]
# which kinds of target each policy follows (a local reading store)
FOLLOWED = {
    "none": set(),
    "relative": {"sibling"},
    "local": {"sibling", "absolute", "escaping"},
    "any": {"sibling", "absolute", "escaping", "url"},
}


@pytest.fixture()
def dirs(tmp_path: Path) -> dict[str, Path]:
    """``home`` holds the reading store and a sibling target; ``served`` (outside ``home``) another target."""
    home, served = tmp_path / "home", tmp_path / "served"
    home.mkdir()
    served.mkdir()
    return {"home": home, "served": served}


def _source(kind: str, dirs: dict[str, Path], base_url: str) -> str:
    return {
        "sibling": "../target.zarr",
        "absolute": str(dirs["served"] / "target.zarr"),
        "escaping": "../../served/target.zarr",
        "url": f"{base_url}/target.zarr",
    }[kind]


def _read(path: Path, place: str, **kwargs) -> np.ndarray:
    with ZarrIO(path, "r", **kwargs) as io:
        return np.asarray(read_place(io, place))


@pytest.mark.parametrize("zarr_format", LAYOUTS)
@pytest.mark.parametrize("place", sorted(PLACES))
def test_default_refuses_a_url_without_any_request(dirs, place, zarr_format):
    """The issue's case: a plain read of a local store whose link/reference names a URL makes no request."""
    write_target(dirs["served"] / "target.zarr", zarr_format)
    with counting_server(dirs["served"]) as (base, requests):
        store = write_linking_store(dirs["home"] / "hostile.zarr", dirs["served"] / "target.zarr", place,
                                    f"{base}/target.zarr", zarr_format)
        with ZarrIO(store, "r") as io:
            if place in EAGER:
                with pytest.raises(ExternalLinkError) as err:
                    io.read_builder()
            else:
                with pytest.raises(ExternalLinkError) as err:
                    read_place(io, place)
        assert requests == []
    message = str(err.value)
    assert PLACES[place] in message and f"{base}/target.zarr" in message
    assert "external_links='any'" in message and "--links any" in message


@pytest.mark.parametrize("zarr_format", LAYOUTS)
@pytest.mark.parametrize("place", ["link", "dataset"])
def test_any_follows_a_url_over_http(dirs, place, zarr_format):
    write_target(dirs["served"] / "target.zarr", zarr_format)
    with counting_server(dirs["served"]) as (base, requests):
        store = write_linking_store(dirs["home"] / "hostile.zarr", dirs["served"] / "target.zarr", place,
                                    f"{base}/target.zarr", zarr_format)
        values = _read(store, place, external_links="any")
        assert requests, "the store behind the URL was read over HTTP"
    np.testing.assert_array_equal(values, TARGET_VALUES)


@pytest.mark.parametrize("zarr_format", LAYOUTS)
@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("kind", ["sibling", "absolute", "escaping"])
@pytest.mark.parametrize("policy", POLICIES)
def test_local_targets_follow_the_policy(dirs, place, kind, policy, zarr_format):
    """Relative paths staying beside the store: default; absolute or escaping paths: 'local' and 'any'."""
    write_target(dirs["served"] / "target.zarr", zarr_format)
    shutil.copytree(dirs["served"] / "target.zarr", dirs["home"] / "target.zarr")
    store = write_linking_store(dirs["home"] / "hostile.zarr", dirs["served"] / "target.zarr", place,
                                _source(kind, dirs, ""), zarr_format)
    if kind in FOLLOWED[policy]:
        np.testing.assert_array_equal(_read(store, place, external_links=policy), TARGET_VALUES)
    else:
        with pytest.raises(ExternalLinkError, match=PLACES[place]):
            _read(store, place, external_links=policy)


_AUDITED: list[str] | None = None  # paths seen by the audit hook while a test records them


def _audit(event: str, args: tuple) -> None:
    if _AUDITED is not None and event in ("open", "os.listdir", "os.scandir") and args:
        _AUDITED.append(os.fsdecode(args[0]) if isinstance(args[0], (str, bytes, os.PathLike)) else "")


sys.addaudithook(_audit)


def _paths_touched(call) -> list[str]:
    """Paths Python opened or listed while ``call`` ran (its ``open``/``os.listdir``/``os.scandir`` audit events)."""
    global _AUDITED
    _AUDITED = []
    try:
        call()
    finally:
        seen, _AUDITED = _AUDITED, None
    return seen


@pytest.mark.parametrize("zarr_format", LAYOUTS)
def test_refused_local_target_is_never_opened(dirs, zarr_format):
    """No file under a refused path is opened or listed; the same read allowed does open them."""
    write_target(dirs["served"] / "target.zarr", zarr_format)
    store = write_linking_store(dirs["home"] / "hostile.zarr", dirs["served"] / "target.zarr", "link",
                                str(dirs["served"] / "target.zarr"), zarr_format)

    def refused() -> None:
        with pytest.raises(ExternalLinkError, match="external_links='local'"):
            _read(store, "link")

    served = str(dirs["served"])
    assert not [p for p in _paths_touched(refused) if p.startswith(served)]
    touched = _paths_touched(lambda: _read(store, "link", external_links="local"))
    assert [p for p in touched if p.startswith(served)]


def test_symlinked_sibling_leading_elsewhere_needs_local(dirs):
    """Symlinks are resolved before the check: a sibling name that points outside the directory is refused."""
    write_target(dirs["served"] / "target.zarr", 3)
    (dirs["home"] / "target.zarr").symlink_to(dirs["served"] / "target.zarr")
    store = write_linking_store(dirs["home"] / "hostile.zarr", dirs["served"] / "target.zarr", "link",
                                "../target.zarr", 3)
    with pytest.raises(ExternalLinkError, match="external_links='local'"):
        _read(store, "link")
    np.testing.assert_array_equal(_read(store, "link", external_links="local"), TARGET_VALUES)


def test_remote_store_follows_links_on_its_own_host_only(dirs):
    """A store read over HTTP follows a relative link to a sibling on the same server, by default; a link to
    another host (another server) or to a local path is refused without touching it."""
    write_target(dirs["served"] / "target.zarr", 3)
    write_linking_store(dirs["served"] / "linking.zarr", dirs["served"] / "target.zarr", "link",
                        "../target.zarr", 3)
    with counting_server(dirs["served"]) as (base, requests):
        np.testing.assert_array_equal(_read(f"{base}/linking.zarr", "link"), TARGET_VALUES)
        assert any("target.zarr" in r for r in requests)
    other_dir = dirs["home"] / "other"
    other_dir.mkdir()
    write_target(other_dir / "target.zarr", 3)
    with counting_server(other_dir) as (other_base, other_requests):
        for source in (f"{other_base}/target.zarr", str(other_dir / "target.zarr")):
            replace_sources(dirs["served"] / "linking.zarr", {_current_source(dirs): source})
            with counting_server(dirs["served"]) as (base, requests):
                with pytest.raises(ExternalLinkError, match="link /acquisition/ext"):
                    _read(f"{base}/linking.zarr", "link")
        assert other_requests == []


def _current_source(dirs: dict[str, Path]) -> str:
    import json

    doc = json.loads((dirs["served"] / "linking.zarr" / "acquisition" / "zarr.json").read_text())
    return doc["attributes"]["_LINKS"][0]["source"]


def test_memory_store_without_location_refuses_relative_sources(dirs):
    from zarr.storage import MemoryStore

    write_target(dirs["home"] / "target.zarr", 3)
    store = write_linking_store(dirs["home"] / "hostile.zarr", dirs["home"] / "target.zarr", "attribute",
                                "../target.zarr", 3)
    memory = MemoryStore()
    for path in store.rglob("*"):
        if path.is_file():
            from zarr.buffer import default_buffer_prototype

            from nwbzarr._private_api import sync

            key = path.relative_to(store).as_posix()
            sync(memory.set(key, default_buffer_prototype().buffer.from_bytes(path.read_bytes())))
    with pytest.raises(ExternalLinkError, match="without a location"):
        _read(memory, "attribute")


# --- the shared sibling case (hdmf-zarr's extlink store) and the NWB entry points ---------------------------
@pytest.mark.parametrize("folder", ["hdmf_zarr_0.13", "hdmf_zarr_0.14"])
def test_shared_extlink_sibling_is_followed_by_default(shared_data, folder):
    """``extlink`` links to "../sample.nwb.zarr", a sibling: followed by default, as hdmf-zarr and HDF5 do."""
    with NWBZarrIO(shared_data / folder / "sample.nwb.zarr", "r") as io:
        expected = io.read().acquisition["ts"].data[:]
    nwbfile = read_nwb(shared_data / folder / "extlink.nwb.zarr")
    np.testing.assert_array_equal(nwbfile.acquisition["ext"].data[:], expected)
    with pytest.raises(ExternalLinkError, match="link /acquisition/ext/data"):
        NWBZarrIO(shared_data / folder / "extlink.nwb.zarr", "r", external_links="none").read()


@pytest.mark.parametrize("folder", ["hdmf_zarr_0.13", "hdmf_zarr_0.14"])
def test_nwb_file_linking_to_an_absolute_path(shared_data, tmp_path, folder):
    """The same NWB file with its link rewritten to an absolute path: refused by default and by read_nwb,
    read with external_links='local'."""
    store = shutil.copytree(shared_data / folder / "extlink.nwb.zarr", tmp_path / "extlink.nwb.zarr")
    replace_sources(store, {"../sample.nwb.zarr": str(shared_data / folder / "sample.nwb.zarr")})
    with pytest.raises(ExternalLinkError, match="sample.nwb.zarr"):
        read_nwb(store)
    with pytest.raises(ExternalLinkError):
        NWBZarrIO(store, "r").read()
    nwbfile = read_nwb(store, external_links="local")
    assert nwbfile.acquisition["ext"].data.shape == (10,)


def test_export_applies_the_policy_to_the_source(shared_data, tmp_path):
    """Exporting a file whose link leaves its directory: reading the source is refused by default; with
    external_links='local' on the source IO, the export keeps the link (as HDF5IO.export does), and the
    exported file, whose link leaves its directory too, reads with external_links='local'."""
    folder = shared_data / "hdmf_zarr_0.14"
    store = shutil.copytree(folder / "extlink.nwb.zarr", tmp_path / "in" / "extlink.nwb.zarr")
    replace_sources(store, {"../sample.nwb.zarr": str(folder / "sample.nwb.zarr")})
    with NWBZarrIO(store, "r") as src, pytest.raises(ExternalLinkError, match="link /acquisition/ext/data"):
        NWBZarrIO.export_io(tmp_path / "out_refused.nwb.zarr", src_io=src)
    with NWBZarrIO(store, "r", external_links="local") as src:
        NWBZarrIO.export_io(tmp_path / "out" / "out.nwb.zarr", src_io=src)
    with NWBZarrIO(folder / "sample.nwb.zarr", "r") as io:
        expected = io.read().acquisition["ts"].data[:]
    with pytest.raises(ExternalLinkError):
        read_nwb(tmp_path / "out" / "out.nwb.zarr")
    exported = read_nwb(tmp_path / "out" / "out.nwb.zarr", external_links="local")
    np.testing.assert_array_equal(exported.acquisition["ext"].data[:], expected)


def test_invalid_policy_is_refused_with_the_choices(tmp_path):
    with pytest.raises(ValueError, match="'none', 'relative', 'local', 'any'"):
        ZarrIO(tmp_path / "x.zarr", "w", external_links="yes")
    with pytest.raises(ValueError, match="external_links"):
        NWBZarrIO(tmp_path / "x.zarr", "w", external_links=True)


# --- the rule itself -----------------------------------------------------------------------------------------
SEGMENTS = st.lists(st.sampled_from(["..", ".", "a", "b", "store.zarr"]), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(SEGMENTS)
def test_relative_rule_is_containment_in_the_store_directory(segments):
    """'relative' allows exactly the sources that stay inside the directory holding the store (/d/s.zarr
    -> /d), resolved from the store root as FORMAT.md says; nothing exists there, so no symlink intervenes."""
    location = "/nonexistent-nwbzarr/d/s.zarr"
    source = "/".join(segments)
    target = os.path.normpath(os.path.join(location, source))
    inside = target.startswith("/nonexistent-nwbzarr/d/")
    assert allows("relative", location, source, target) is inside
    assert allows("local", location, source, target) and allows("any", location, source, target)
    assert not allows("none", location, source, target)


@pytest.mark.parametrize(("location", "target", "expected"), [
    ("s3://bucket/a/x.zarr", "s3://bucket/b/y.zarr", True),
    ("s3://bucket/a/x.zarr", "s3://other/b/y.zarr", False),
    ("s3://bucket/a/x.zarr", "gs://bucket/b/y.zarr", False),
    ("https://h:1/x.zarr", "https://h:2/y.zarr", False),
    ("https://H/x.zarr", "https://h/y.zarr", True),
    ("simplecache::s3://b/x.zarr", "s3://b/y.zarr", False),
    ("/d/x.zarr", "https://h/y.zarr", False),
    ("sqlite:///d/x.sqldb", "sqlite:///d/y.sqldb", True),
    ("sqlite:///d/x.sqldb", "sqlite:///e/y.sqldb", False),
])
def test_same_host_rule(location, target, expected):
    assert allows("relative", location, target, target) is expected
    assert allows("local", location, target, target) is expected


def test_remote_store_and_local_paths():
    """From a remote store, a local path is never 'beside' it: only 'local' and 'any' follow it."""
    location, target = "https://h/data/x.zarr", "/data/y.zarr"
    assert [p for p in POLICIES if allows(p, location, target, target)] == ["local", "any"]


def test_relative_source_never_climbs_above_the_host():
    """'..' past a URL's root stays on the host (it never turns the URL into a local path such as 'http:/y')."""
    from nwbzarr.backend.location import resolve_source

    candidates = resolve_source("http://h:1/a/x.zarr", "../../../../y.zarr")
    assert candidates[0] == "http://h:1/y.zarr"
    assert all(allows("relative", "http://h:1/a/x.zarr", "../../../../y.zarr", c) for c in candidates)
