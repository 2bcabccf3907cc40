"""IO lifecycle as hdmf-zarr 0.14 and NWBHDF5IO have it: mode 'a' creates a missing file, data stay readable
after close, ``io._file`` / ``pynwb.validate(io=...)``, and specs cached only by ``write()`` (issue 13: 4, 8, 9, 11).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import h5py
import hypothesis.extra.numpy as hnp
import numpy as np
import pynwb
import pytest
import zarr
from hdmf.backends.errors import UnsupportedOperation
from hdmf.backends.hdf5 import HDF5IO
from hdmf.build import DatasetBuilder, GroupBuilder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pynwb import NWBHDF5IO, NWBFile, TimeSeries, get_manager
from pynwb.validation import get_cached_namespaces_to_validate
from zarr.storage import MemoryStore

from _nwb_factory import broad_nwbfile
from backend.test_interop_hdmf_zarr import hdmf_zarr_014  # noqa: F401 - the session fixture that builds the venv
from nwbzarr import NWBZarrIO, ZarrIO
from nwbzarr.backend.lifecycle import remove_if_created_empty
from nwbzarr.format.base import FormatError

# What a reader sees of the broad file: run here against nwbzarr and by hdmf-zarr 0.14 in its own venv.
OBSERVE = r"""
import numpy as np
def _pixel_mask(f):
    mask = f.processing["ophys"]["ImageSegmentation"]["planes"]["pixel_mask"][0]
    return [[float(v) for v in tuple(row)] for row in mask]

PROBES = {
    "es_head": lambda f: np.asarray(f.acquisition["es"].data[:3]).tolist(),
    "es_chunks": lambda f: list(f.acquisition["es"].data.chunks),
    "spikes": lambda f: [np.asarray(f.trials["spikes"][i]).tolist() for i in range(len(f.trials))],
    "labels": lambda f: [str(x) for x in f.trials["label"].data[:]],
    "nested": lambda f: [np.asarray(f.trials["nested"][0][i]).tolist() for i in range(2)],
    "position": lambda f: [float(v) for v in f.electrode_groups["shank0"].position[()]],
    "es_electrodes": lambda f: [str(x) for x in f.acquisition["es"].electrodes[:]["location"]],
    "epoch_targets": lambda f: [row[2].name for row in f.epochs["timeseries"].target.data[:]],
    "electrode_groups": lambda f: [g.name for g in f.electrodes["group"].data[:]],
    "pixel_mask_0": _pixel_mask,
}

def observe(f):
    out = {}
    for name, probe in PROBES.items():
        try:
            out[name] = probe(f)
        except Exception as exc:
            out[name] = "error: " + type(exc).__name__
    return out
"""
_namespace: dict = {}
exec(OBSERVE, _namespace)
observe = _namespace["observe"]

HDMF_ZARR_SCRIPT = r"""
import json, os, sys, warnings
warnings.simplefilter("ignore")
from datetime import datetime, timezone
import numpy as np
from hdmf.build import DatasetBuilder, GroupBuilder
from pynwb import NWBFile, TimeSeries, get_manager
from hdmf_zarr import NWBZarrIO, ZarrIO
""" + OBSERVE + r"""
root, broad = sys.argv[1], sys.argv[2]
out = {}

def nwb():
    f = NWBFile(session_description="d", identifier="i", session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    f.add_acquisition(TimeSeries(name="ts", data=np.arange(10.0), unit="m", rate=1.0))
    return f

def root_doc(path):
    with open(os.path.join(path, "zarr.json")) as fh:
        return json.load(fh)

new = os.path.join(root, "a_new.zarr")
with ZarrIO(new, mode="a", manager=get_manager()) as io:
    io.write(nwb())
with NWBZarrIO(new, mode="r") as io:
    out["a_new_data"] = io.read().acquisition["ts"].data[:].tolist()

empty = os.path.join(root, "a_empty.zarr")
ZarrIO(empty, mode="a", manager=get_manager()).close()
out["a_empty_root"] = root_doc(empty)
try:
    with NWBZarrIO(empty, mode="r") as io:
        io.read()
except Exception as exc:
    out["a_empty_read"] = [type(exc).__name__, str(exc)]

with NWBZarrIO(broad, mode="r") as io:
    out["while_open"] = observe(io.read())
with NWBZarrIO(broad, mode="r") as io:
    out["file_type_open"] = type(io._file).__name__
    f = io.read()
out["file_after_close"] = io._file is None
out["after_close"] = observe(f)

wb = os.path.join(root, "wb.zarr")
with ZarrIO(wb, mode="w", manager=get_manager()) as io:
    io.write_builder(GroupBuilder("root", datasets={"x": DatasetBuilder("x", data=[1, 2, 3])}))
out["write_builder_entries"] = sorted(os.listdir(wb))
out["write_builder_root_attrs"] = root_doc(wb)["attributes"]

for cache_spec in (True, False):
    p = os.path.join(root, f"cache_{cache_spec}.zarr")
    with NWBZarrIO(p, mode="w") as io:
        io.write(nwb(), cache_spec=cache_spec)
    specs = os.path.join(p, "specifications")
    def subdirs(d):
        return sorted(n for n in os.listdir(d) if os.path.isdir(os.path.join(d, n)))
    out[f"cached_{cache_spec}"] = ({ns: subdirs(os.path.join(specs, ns)) for ns in subdirs(specs)}
                                   if os.path.isdir(specs) else {})
    out[f"specloc_{cache_spec}"] = root_doc(p)["attributes"].get(".specloc")
print(json.dumps(out))
"""


def _nwb() -> NWBFile:
    nwb = NWBFile(session_description="d", identifier="i", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    nwb.add_acquisition(TimeSeries(name="ts", data=np.arange(10.0), unit="m", rate=1.0))
    return nwb


@pytest.fixture(scope="module")
def hdmf_zarr_seen(tmp_path_factory, hdmf_zarr_014) -> dict:  # noqa: F811 - the imported fixture
    """What hdmf-zarr 0.14 does for each behaviour tested here (one run of its own interpreter)."""
    root = tmp_path_factory.mktemp("hdmf_zarr_014")
    broad = root / "broad.nwb.zarr"
    with NWBZarrIO(broad, mode="w") as io:
        io.write(broad_nwbfile())
    run = subprocess.run([hdmf_zarr_014, "-c", HDMF_ZARR_SCRIPT, str(root), str(broad)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _h5_specs(path: Path) -> dict[str, list[str]]:
    with h5py.File(path, "r") as f:
        if "specifications" not in f:
            return {}
        return {ns: sorted(f["specifications"][ns]) for ns in f["specifications"]}


def _zarr_specs(path: Path) -> dict[str, list[str]]:
    specs = path / "specifications"
    if not specs.is_dir():
        return {}
    return {ns.name: sorted(v.name for v in ns.iterdir() if v.is_dir()) for ns in specs.iterdir() if ns.is_dir()}


def _root_doc(path: Path) -> dict:
    return json.loads((path / "zarr.json").read_text())


# --- 4. mode "a" on a path that does not exist yet ---------------------------------------------------------

@pytest.mark.parametrize("name, kwargs", [
    ("new.nwb.zarr", {}),
    ("new.nwb.sqlite", {}),
    ("new.nwb.zip", {}),
    ("legacy.nwb.zarr", {"zarr_format": 2}),
])
def test_mode_a_creates_a_missing_file_then_writes_and_reads_back(tmp_path, name, kwargs):
    h5 = tmp_path / "new.nwb"
    with NWBHDF5IO(h5, mode="a", load_namespaces=False) as io:  # NWBHDF5IO creates the file in mode 'a'
        io.write(_nwb())
    with NWBHDF5IO(h5, mode="r") as io:
        expected = io.read().acquisition["ts"].data[:].tolist()
    path = tmp_path / name
    assert not path.exists()
    with NWBZarrIO(path, mode="a", load_namespaces=False, **kwargs) as io:  # as NWBHDF5IO above
        io.write(_nwb())
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        assert nwb.acquisition["ts"].data[:].tolist() == expected
        assert io.layout.zarr_format == kwargs.get("zarr_format", 3)


@pytest.mark.parametrize("spec", ["{tmp}/typo_dir", "file://{tmp}/typo_dir", "{tmp}/missing/typo.nwb.zarr"])
def test_nwb_mode_a_on_a_missing_path_fails_and_creates_nothing_as_nwbhdf5io(tmp_path, spec, hdmf_zarr_014):  # noqa: F811
    """NWBHDF5IO and hdmf-zarr 0.14's NWBZarrIO (both loading namespaces) refuse mode 'a' on a missing file
    and create nothing; a typo must not leave a new store behind (issue 18)."""
    with pytest.raises(FileNotFoundError):
        NWBHDF5IO(tmp_path / "typo.nwb", mode="a")
    seen = subprocess.run([hdmf_zarr_014, "-c", "import sys\nfrom hdmf_zarr import NWBZarrIO\ntry:\n"
                           "    NWBZarrIO(sys.argv[1], 'a')\nexcept FileNotFoundError:\n    print('refused')",
                           str(tmp_path / "theirs")], capture_output=True, text=True, timeout=300)
    assert seen.stdout.strip() == "refused", seen.stderr[-2000:]
    path = spec.format(tmp=tmp_path)
    with pytest.raises(FileNotFoundError, match="typo") as exc:
        NWBZarrIO(path, mode="a")
    assert "mode 'w'" in str(exc.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_mode_a_write_matches_hdmf_zarr(tmp_path, hdmf_zarr_seen):
    path = tmp_path / "a_new.zarr"
    with ZarrIO(path, mode="a", manager=get_manager()) as io:
        io.write(_nwb())
    with NWBZarrIO(path, mode="r") as io:
        assert io.read().acquisition["ts"].data[:].tolist() == hdmf_zarr_seen["a_new_data"]


def test_mode_a_then_close_leaves_an_empty_root_group_as_hdmf_zarr(tmp_path, hdmf_zarr_seen):
    path = tmp_path / "a_empty.zarr"
    ZarrIO(path, mode="a", manager=get_manager()).close()
    assert _root_doc(path) == hdmf_zarr_seen["a_empty_root"]
    with NWBZarrIO(path, mode="r") as io:
        with pytest.raises(UnsupportedOperation) as exc:
            io.read()
    assert [type(exc.value).__name__, str(exc.value)] == hdmf_zarr_seen["a_empty_read"]


def test_mode_a_then_add_to_the_new_store_in_a_second_session(tmp_path):
    path = tmp_path / "twice.zarr"
    NWBZarrIO(path, mode="a", load_namespaces=False).close()
    with NWBZarrIO(path, mode="a") as io:
        io.write(_nwb())
    with NWBZarrIO(path, mode="r") as io:
        assert io.read().identifier == "i"


def test_mode_a_refuses_a_directory_that_holds_something_else(tmp_path):
    path = tmp_path / "not_zarr"
    path.mkdir()
    (path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a Zarr store"):
        NWBZarrIO(path, mode="a")
    assert sorted(p.name for p in path.iterdir()) == ["notes.txt"]


def test_failed_open_leaves_no_directory(tmp_path):
    missing = tmp_path / "missing.zarr"
    for mode in ("r", "r+", "r-"):
        with pytest.raises(FileNotFoundError):
            NWBZarrIO(f"file://{missing}", mode=mode)
        assert not missing.exists()


def test_failed_open_keeps_a_directory_that_was_already_there(tmp_path):
    existing = tmp_path / "empty_dir"
    existing.mkdir()
    with pytest.raises(FormatError, match="not a Zarr store"):
        ZarrIO(existing, mode="r+")
    assert existing.is_dir()


def test_remove_if_created_empty_only_removes_what_open_created(tmp_path):
    created, kept, full = tmp_path / "created", tmp_path / "kept", tmp_path / "full"
    for d in (created, kept, full):
        d.mkdir()
    (full / "x").write_text("x")
    remove_if_created_empty(str(created), existed_before=False)
    remove_if_created_empty(str(kept), existed_before=True)
    remove_if_created_empty(str(full), existed_before=False)
    assert not created.exists() and kept.is_dir() and (full / "x").is_file()


def _open_handles(path: Path) -> int:
    """How many file descriptors of this process are open on ``path`` or on a file inside it."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc/self/fd to count open files")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd).startswith(str(path)))


def test_can_read_and_namespace_loading_close_what_they_open(tmp_path):
    path = tmp_path / "probe.nwb.lmdb"  # LMDB handles are shared per process and closed by the last user
    with NWBZarrIO(f"lmdb:///{path}", mode="w") as io:
        io.write(_nwb())
    assert _open_handles(path) == 0
    assert ZarrIO.can_read(f"lmdb:///{path}")
    assert _open_handles(path) == 0
    with NWBZarrIO(f"lmdb:///{path}", mode="r") as io:  # can_read + load_namespaces + the IO's own store
        io.read()
    assert _open_handles(path) == 0


# --- 8. data stay readable after the IO is closed ------------------------------------------------------------

STORE_KINDS = {
    "directory": ("broad.nwb.zarr", {}),
    "legacy directory": ("legacy.nwb.zarr", {"zarr_format": 2}),
    "sqlite": ("broad.nwb.sqlite", {}),
    "zip": ("broad.nwb.zip", {}),
    "lmdb": ("lmdb:///{tmp}/broad.nwb.lmdb", {}),
    "h5container": ("h5container:///{tmp}/broad.h5c", {}),
    "zipcontainer": ("zipcontainer:///{tmp}/broad.zc", {}),
    "dbm": ("dbm:///{tmp}/broad.dbm", {}),
}


def _assert_as_hdmf_zarr_reads(after_close: dict, seen: dict) -> None:
    """Everything reads after close with the values hdmf-zarr reads while open; hdmf-zarr itself reads the
    plain, ragged and text data after close (those must agree) but not references, which nwbzarr also does."""
    assert after_close == seen["while_open"]
    assert not any(str(v).startswith("error") for v in seen["while_open"].values())
    readable_by_hdmf_zarr = {k: v for k, v in seen["after_close"].items() if not str(v).startswith("error")}
    assert {"es_head", "es_chunks", "spikes", "labels", "nested"} <= set(readable_by_hdmf_zarr)
    assert readable_by_hdmf_zarr == {k: after_close[k] for k in readable_by_hdmf_zarr}


def _store_path(tmp_path: Path, spec: str) -> str:
    return spec.format(tmp=tmp_path) if "://" in spec else str(tmp_path / spec)


@pytest.mark.parametrize("kind", sorted(STORE_KINDS))
def test_data_readable_after_close_as_hdmf_zarr(tmp_path, kind, hdmf_zarr_seen):
    spec, kwargs = STORE_KINDS[kind]
    path = _store_path(tmp_path, spec)
    with NWBZarrIO(path, mode="w", **kwargs) as io:
        io.write(broad_nwbfile())
    with NWBZarrIO(path, mode="r") as io:
        nwbfile = io.read()
    _assert_as_hdmf_zarr_reads(observe(nwbfile), hdmf_zarr_seen)


@pytest.mark.parametrize("kind", sorted(STORE_KINDS))
def test_a_writers_data_readable_after_close_and_the_file_reopens_for_writing(tmp_path, kind, hdmf_zarr_seen):
    spec, kwargs = STORE_KINDS[kind]
    path = _store_path(tmp_path, spec)
    with NWBZarrIO(path, mode="a", load_namespaces=False, **kwargs) as io:
        io.write(broad_nwbfile())
        nwbfile = io.read()
    _assert_as_hdmf_zarr_reads(observe(nwbfile), hdmf_zarr_seen)
    with NWBZarrIO(path, mode="a") as io:  # the read-only handles of the closed IO do not block a writer
        again = io.read()
        again.add_acquisition(TimeSeries(name="later", data=np.arange(4.0), unit="s", rate=1.0))
        io.write(again)
    with NWBZarrIO(path, mode="r") as io:
        assert io.read().acquisition["later"].data[:].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_data_readable_after_close_of_a_store_object(hdmf_zarr_seen):
    store = MemoryStore()
    with NWBZarrIO(store, mode="w") as io:
        io.write(broad_nwbfile())
    with NWBZarrIO(store, mode="r") as io:
        nwbfile = io.read()
    _assert_as_hdmf_zarr_reads(observe(nwbfile), hdmf_zarr_seen)


@pytest.fixture(scope="module")
def s3_options(s3_server) -> dict:
    """A bucket on the shared moto server, and the storage options that reach it."""
    import boto3

    endpoint = s3_server["endpoint_url"]
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="lifecycle")
    return {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}


def test_data_readable_after_close_of_an_s3_store(s3_options, hdmf_zarr_seen):
    url = "s3://lifecycle/broad.nwb.zarr"
    with NWBZarrIO(url, mode="w", storage_options=s3_options) as io:
        io.write(broad_nwbfile())
    with NWBZarrIO(url, mode="r", storage_options=s3_options) as io:
        nwbfile = io.read()
    _assert_as_hdmf_zarr_reads(observe(nwbfile), hdmf_zarr_seen)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=hnp.arrays(st.sampled_from([np.int16, np.uint32, np.float32, np.float64]),
                         hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=40)),
       suffix=st.sampled_from([".zarr", ".sqlite", ".zip"]),
       start=st.integers(0, 39), stop=st.integers(0, 40))
def test_any_array_reads_the_same_after_close(tmp_path_factory, values, suffix, start, stop):
    path = tmp_path_factory.mktemp("anyarray") / f"a.nwb{suffix}"
    nwbfile = _nwb()
    nwbfile.add_acquisition(TimeSeries(name="v", data=values, unit="u", rate=1.0))
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwbfile)
    with NWBZarrIO(path, mode="r") as io:
        data = io.read().acquisition["v"].data
    np.testing.assert_array_equal(data[:], values)
    np.testing.assert_array_equal(data[start:stop], values[start:stop])
    assert data.dtype == values.dtype and data.shape == values.shape


def test_data_read_before_close_and_after_close_agree(tmp_path):
    path = tmp_path / "twice.nwb.sqlite"
    with NWBZarrIO(path, mode="w") as io:
        io.write(broad_nwbfile())
    with NWBZarrIO(path, mode="r") as io:
        nwbfile = io.read()
        before = observe(nwbfile)  # opens the arrays while the IO is open
    assert observe(nwbfile) == before


def test_read_after_close_of_a_writer_does_not_recreate_a_deleted_store(tmp_path):
    path = tmp_path / "gone.nwb.zarr"
    with NWBZarrIO(path, mode="a", load_namespaces=False) as io:
        io.write(broad_nwbfile())
        nwbfile = io.read()
    labels = nwbfile.trials["label"].data  # text: read through the store itself
    shutil.rmtree(path)
    with pytest.raises(FileNotFoundError, match="gone.nwb.zarr"):
        labels[:]
    assert not path.exists()


def test_file_attribute_is_none_after_close_as_hdmf_zarr(tmp_path, hdmf_zarr_seen):
    path = tmp_path / "f.nwb.zarr"
    with NWBZarrIO(path, mode="w") as io:
        io.write(_nwb())
    with NWBZarrIO(path, mode="r") as io:
        assert type(io._file).__name__ == hdmf_zarr_seen["file_type_open"]
    assert (io._file is None) is hdmf_zarr_seen["file_after_close"]


def test_writing_after_close_fails_clearly_and_changes_nothing(tmp_path):
    path = tmp_path / "closed.nwb.zarr"
    with NWBZarrIO(path, mode="a", load_namespaces=False) as io:
        io.write(_nwb())
    before = sorted(str(p.relative_to(path)) for p in path.rglob("*"))
    with pytest.raises(UnsupportedOperation, match="closed"):
        io.write(_nwb())
    with pytest.raises(UnsupportedOperation, match="closed"):
        io.write_builder(GroupBuilder("root"))
    with pytest.raises(UnsupportedOperation, match="closed"):
        io.consolidate_metadata()
    assert sorted(str(p.relative_to(path)) for p in path.rglob("*")) == before


# --- 9. io._file and pynwb.validate(io=...) ----------------------------------------------------------------

def test_file_is_the_root_zarr_group(tmp_path):
    for name, kwargs in (("v3.nwb.zarr", {}), ("v2.nwb.zarr", {"zarr_format": 2})):
        path = tmp_path / name
        with NWBZarrIO(path, mode="w", **kwargs) as io:
            io.write(_nwb())
        with NWBZarrIO(path, mode="r") as io:
            group = io._file
            assert isinstance(group, zarr.Group)
            assert group.metadata.zarr_format == kwargs.get("zarr_format", 3)
            assert group.attrs["namespace"] == "core"
            assert np.asarray(group["acquisition/ts/data"][:3]).tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_file_in_mode_w_is_a_new_root_group_and_the_write_still_lands(tmp_path, zarr_format):
    path = tmp_path / "w.nwb.zarr"
    with NWBZarrIO(path, mode="w", zarr_format=zarr_format) as io:
        assert isinstance(io._file, zarr.Group) and dict(io._file.attrs) == {}  # as hdmf-zarr in mode 'w'
        io.write(_nwb())
        assert io._file.attrs["namespace"] == "core"
        assert "acquisition" in io._file
    with NWBZarrIO(path, mode="r") as io:
        assert io.layout.zarr_format == zarr_format
        assert io.read().acquisition["ts"].data[:].tolist() == list(np.arange(10.0))


def _write_both(tmp_path: Path, make) -> tuple[Path, Path]:
    h5, zr = tmp_path / "same.nwb", tmp_path / "same.nwb.zarr"
    with NWBHDF5IO(h5, mode="w") as io:
        io.write(make())
    with NWBZarrIO(zr, mode="w") as io:
        io.write(make())
    return h5, zr


def _broad_without_compound_columns() -> NWBFile:
    nwbfile = broad_nwbfile()
    nwbfile.processing.pop("ophys")  # pixel_mask: compound reads are issue 13 point 5
    return nwbfile


def test_validate_with_io_matches_hdf5(tmp_path):
    h5, zr = _write_both(tmp_path, _broad_without_compound_columns)
    with NWBHDF5IO(h5, mode="r") as io:
        expected = [str(e) for e in pynwb.validate(io=io)]
        expected_ns, _, expected_deps = get_cached_namespaces_to_validate(io=io)
    with NWBZarrIO(zr, mode="r") as io:
        assert [str(e) for e in pynwb.validate(io=io)] == expected
        namespaces, manager, deps = get_cached_namespaces_to_validate(io=io)
    assert namespaces == expected_ns == ["core"]
    assert {k: {d: sorted(t) for d, t in v.items()} for k, v in deps.items()} == \
        {k: {d: sorted(t) for d, t in v.items()} for k, v in expected_deps.items()}
    assert manager.namespace_catalog.get_namespace("core").version == \
        NWBZarrIO.get_namespaces(zr)["core"]


def test_validate_with_io_matches_hdf5_for_compound_columns(tmp_path):
    h5, zr = _write_both(tmp_path, broad_nwbfile)
    with NWBHDF5IO(h5, mode="r") as io:
        expected = [str(e) for e in pynwb.validate(io=io)]
    with NWBZarrIO(zr, mode="r") as io:
        assert [str(e) for e in pynwb.validate(io=io)] == expected


@pytest.mark.parametrize("folder", ["hdmf_zarr_0.14", "hdmf_zarr_0.13"])
@pytest.mark.parametrize("name", ["sample", "dci", "sharded", "extlink"])
def test_validate_shared_stores_as_their_hdf5(shared_data, folder, name):
    with NWBHDF5IO(shared_data / "hdf5" / f"{name}.nwb", mode="r") as io:
        expected = sorted(str(e) for e in pynwb.validate(io=io))
    with NWBZarrIO(shared_data / folder / f"{name}.nwb.zarr", mode="r") as io:
        assert sorted(str(e) for e in pynwb.validate(io=io)) == expected


VALIDATE_WITH_HDMF_ZARR = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import pynwb
from hdmf_zarr import NWBZarrIO
with NWBZarrIO(sys.argv[1], "r") as io:
    print(json.dumps(sorted(str(e) for e in pynwb.validate(io=io))))
"""


def test_validate_reports_what_hdmf_zarr_reports(shared_data, hdmf_zarr_014):  # noqa: F811
    path = shared_data / "hdmf_zarr_0.14" / "anm.nwb.zarr"  # NWB 2.1 export: its index columns are int32
    run = subprocess.run([hdmf_zarr_014, "-c", VALIDATE_WITH_HDMF_ZARR, str(path)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    expected = json.loads(run.stdout.strip().splitlines()[-1])
    with NWBZarrIO(path, mode="r") as io:
        assert sorted(str(e) for e in pynwb.validate(io=io)) == expected
    assert len(expected) == 4


def _invalid_builder() -> GroupBuilder:
    manager = get_manager()
    builder = manager.build(_nwb())
    del builder["acquisition"]["ts"]["data"].attributes["unit"]  # a required attribute
    builder["acquisition"]["ts"].attributes["comments"] = 5  # text expected
    return builder


def test_validate_reports_the_same_errors_as_hdf5_for_a_file_without_cached_specs(tmp_path):
    h5, zr = tmp_path / "bad.nwb", tmp_path / "bad.nwb.zarr"
    with HDF5IO(h5, mode="w", manager=get_manager()) as io:
        io.write_builder(_invalid_builder())
    with ZarrIO(zr, mode="w", manager=get_manager()) as io:
        io.write_builder(_invalid_builder())
    with NWBHDF5IO(h5, mode="r", load_namespaces=False) as io:
        expected = sorted(str(e) for e in pynwb.validate(io=io))
        assert get_cached_namespaces_to_validate(io=io)[0] == []
    with NWBZarrIO(zr, mode="r") as io:
        got = sorted(str(e) for e in pynwb.validate(io=io))
        assert get_cached_namespaces_to_validate(io=io)[0] == []
    assert len(expected) == 2
    assert got == expected


def test_load_namespaces_from_file_path_or_io_give_the_same(tmp_path):
    _, zr = _write_both(tmp_path, _nwb)
    from hdmf.spec import NamespaceCatalog
    from pynwb.spec import NWBDatasetSpec, NWBGroupSpec, NWBNamespace

    results = []
    with NWBZarrIO(zr, mode="r") as io:
        for kwargs in ({"file": io._file}, {"path": str(zr)}, {"io": io}):
            catalog = NamespaceCatalog(NWBGroupSpec, NWBDatasetSpec, NWBNamespace)
            deps = NWBZarrIO.load_namespaces(namespace_catalog=catalog, **kwargs)
            results.append((sorted(deps), sorted(catalog.namespaces)))
    assert results[0] == results[1] == results[2]
    assert results[0][0] == ["core", "hdmf-common", "hdmf-experimental"]


def test_load_namespaces_rejects_ambiguous_or_wrong_sources(tmp_path):
    _, zr = _write_both(tmp_path, _nwb)
    from hdmf.spec import NamespaceCatalog

    with NWBZarrIO(zr, mode="r") as io:
        with pytest.raises(ValueError, match="exactly one"):
            ZarrIO.load_namespaces(NamespaceCatalog(), path=str(zr), file=io._file)
        with pytest.raises(ValueError, match="root group"):
            ZarrIO.load_namespaces(NamespaceCatalog(), file=io._file["acquisition"])
        with pytest.raises(TypeError, match="zarr.Group"):
            ZarrIO.load_namespaces(NamespaceCatalog(), file=str(zr))


# --- 11. specs are cached by write(cache_spec=True) only ----------------------------------------------------

def _tiny_builder() -> GroupBuilder:
    return GroupBuilder("root", datasets={"x": DatasetBuilder("x", data=[1, 2, 3])})


def test_write_builder_caches_no_specs_as_hdf5io_and_hdmf_zarr(tmp_path, hdmf_zarr_seen):
    h5, zr = tmp_path / "wb.h5", tmp_path / "wb.zarr"
    with HDF5IO(h5, mode="w", manager=get_manager()) as io:
        io.write_builder(_tiny_builder())
    with ZarrIO(zr, mode="w", manager=get_manager()) as io:
        io.write_builder(_tiny_builder())
    assert _h5_specs(h5) == {} == _zarr_specs(zr)
    with h5py.File(h5, "r") as f:
        assert ".specloc" not in f.attrs
    entries = sorted(p.name for p in zr.iterdir() if p.name != "nwbzarr_manifest.json")  # docs/format.md
    assert entries == hdmf_zarr_seen["write_builder_entries"] and (zr / "nwbzarr_manifest.json").is_file()
    assert _root_doc(zr)["attributes"] == hdmf_zarr_seen["write_builder_root_attrs"] == {}
    with ZarrIO(zr, mode="r") as io:
        assert io.get_namespace_versions() == {}


@pytest.mark.parametrize("cache_spec", [True, False])
def test_write_caches_specs_exactly_when_hdf5io_does(tmp_path, cache_spec, hdmf_zarr_seen):
    h5, zr = tmp_path / "c.nwb", tmp_path / "c.nwb.zarr"
    with NWBHDF5IO(h5, mode="w") as io:
        io.write(_nwb(), cache_spec=cache_spec)
    with NWBZarrIO(zr, mode="w") as io:
        io.write(_nwb(), cache_spec=cache_spec)
    assert _zarr_specs(zr) == _h5_specs(h5) == hdmf_zarr_seen[f"cached_{cache_spec}"]
    assert _root_doc(zr)["attributes"].get(".specloc") == hdmf_zarr_seen[f"specloc_{cache_spec}"]
    assert bool(cache_spec) == bool(_zarr_specs(zr))


def test_write_with_cache_spec_in_mode_a_adds_the_specs_as_hdf5io(tmp_path):
    h5, zr = tmp_path / "later.nwb", tmp_path / "later.nwb.zarr"
    for io_class, path in ((NWBHDF5IO, h5), (NWBZarrIO, zr)):
        with io_class(path, mode="w") as io:
            io.write(_nwb(), cache_spec=False)
        with io_class(path, mode="a") as io:
            nwbfile = io.read()
            nwbfile.add_acquisition(TimeSeries(name="more", data=np.arange(3.0), unit="s", rate=1.0))
            io.write(nwbfile)
    assert _zarr_specs(zr) == _h5_specs(h5) != {}
    with NWBZarrIO(zr, mode="r") as io:
        assert io.read().acquisition["more"].data[:].tolist() == [0.0, 1.0, 2.0]


def test_write_builder_can_still_cache_specs_when_asked(tmp_path):
    zr = tmp_path / "asked.zarr"
    with NWBZarrIO(zr, mode="w") as io:
        io.write_builder(io.manager.build(_nwb()), cache_spec=True)
    assert set(_zarr_specs(zr)) == {"core", "hdmf-common", "hdmf-experimental"}
    assert os.path.isdir(zr / "specifications")
