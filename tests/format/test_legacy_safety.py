"""Untrusted legacy stores: pickles are rebuilt by a restricted unpickler; bad nodes fail alone, by name."""

from __future__ import annotations

import os
import pickle
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBFile, TimeSeries

from _legacy_stores import read_doc, write_chunk, write_doc
from nwbzarr import NWBZarrIO
from nwbzarr.backend.io import ZarrIO
from nwbzarr.format.base import FormatError
from nwbzarr.format.legacy import LegacyWarning
from nwbzarr.format.legacy_codecs import UnsafePickleError, restricted_loads
from nwbzarr.format.reference import ZarrReference

GROUP = "general/extracellular_ephys/electrodes/group"


class _Touch:
    """A payload whose unpickling would run ``os.system`` (it must never be)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _small_file() -> NWBFile:
    nwb = NWBFile(session_description="safety", identifier="safety-1",
                  session_start_time=datetime(2024, 1, 2, tzinfo=UTC))
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank0", description="s", location="CA1", device=device)
    for _ in range(3):
        nwb.add_electrode(group=group, location="CA1")
    nwb.add_acquisition(TimeSeries(name="ts", data=np.arange(20.0), unit="m", rate=10.0))
    nwb.add_acquisition(TimeSeries(name="other", data=np.arange(5, dtype="int16"), unit="m", rate=1.0))
    return nwb


@pytest.fixture
def legacy_store(tmp_path: Path) -> Path:
    path = tmp_path / "safety.nwb.zarr"
    with NWBZarrIO(path, "w", zarr_format=2) as io:
        io.write(_small_file())
    return path


def _as_pickled(store: Path, array: str, payload: bytes) -> None:
    zarray = read_doc(store, f"{array}/.zarray")
    zarray["filters"] = [{"id": "pickle", "protocol": 5}]
    write_doc(store, f"{array}/.zarray", zarray)
    write_chunk(store, array, payload)


def test_restricted_unpickler_rebuilds_what_hdmf_zarr_pickles():
    refs = np.empty(2, dtype=object)
    refs[0] = ZarrReference(".", "/a", "id-a")
    refs[1] = ZarrReference(".", "/b")
    back = restricted_loads(pickle.dumps(refs, protocol=5))
    assert [r.path for r in back] == ["/a", "/b"] and back[0].object_id == "id-a"
    rows = np.array([(1, 2.5, "x")], dtype=[("a", "<i4"), ("b", "<f8"), ("c", "O")])
    for protocol in (2, 4, 5):
        assert restricted_loads(pickle.dumps(rows, protocol=protocol)).tolist() == [(1, 2.5, "x")]
    plain = np.arange(6, dtype="<i2").reshape(2, 3)
    np.testing.assert_array_equal(restricted_loads(pickle.dumps(plain, protocol=5)), plain)


@pytest.mark.parametrize("payload", [
    _Touch("/nonexistent/never"),
    eval,
    Path("/etc/passwd"),
])
def test_restricted_unpickler_refuses_everything_else(payload):
    with pytest.raises(UnsafePickleError, match="refusing to unpickle"):
        restricted_loads(pickle.dumps(payload))


def test_pickled_chunk_calling_os_system_is_refused_and_never_run(legacy_store: Path, tmp_path: Path):
    marker = tmp_path / "pwned"
    values = np.empty(3, dtype=object)
    values[:] = [_Touch(str(marker)), None, None]
    _as_pickled(legacy_store, GROUP, pickle.dumps(values, protocol=5))
    with ZarrIO(legacy_store, "r") as io:
        root = io.read_builder()
        with pytest.raises(UnsafePickleError, match=f"/{GROUP}") as info:
            root[GROUP].data[:]
        assert "posix.system" in str(info.value) or "os.system" in str(info.value)
        np.testing.assert_array_equal(root["acquisition/ts/data"].data[:], np.arange(20.0))
    assert not marker.exists()


def test_legitimate_pickled_references_still_read(legacy_store: Path):
    values = np.empty(3, dtype=object)
    for i in range(3):
        values[i] = ZarrReference(".", "/general/extracellular_ephys/shank0")
    _as_pickled(legacy_store, GROUP, pickle.dumps(values, protocol=5))
    with NWBZarrIO(legacy_store, "r") as io:
        nwb = io.read()
        assert [g.name for g in nwb.electrodes["group"][:]] == ["shank0"] * 3


def test_missing_zarray_names_the_node_and_the_rest_reads(legacy_store: Path):
    write_doc(legacy_store, "acquisition/ts/data/.zarray", None)
    with pytest.warns(LegacyWarning, match="/acquisition/ts/data"):
        io = ZarrIO(legacy_store, "r")
        root = io.read_builder()
    with io:
        with pytest.raises(FormatError, match=r"/acquisition/ts/data.*\.zarray is missing"):
            root["acquisition/ts/data"].data[:]
        np.testing.assert_array_equal(root["acquisition/other/data"].data[:], np.arange(5))
        assert root["acquisition/ts"].attributes["description"] == "no description"


def test_undecodable_chunk_names_the_node_and_the_rest_reads(legacy_store: Path):
    (legacy_store / "acquisition/ts/data/0").write_bytes(b"this is not blosc")
    write_chunk(legacy_store, GROUP, b"{not json")
    with NWBZarrIO(legacy_store, "r") as io:
        nwb = io.read()
        with pytest.raises(FormatError, match="/acquisition/ts/data"):
            nwb.acquisition["ts"].data[:]
        with pytest.raises(FormatError, match=f"/{GROUP}.*cannot be decoded"):
            io.read_builder()[GROUP].data[:]
        np.testing.assert_array_equal(nwb.acquisition["other"].data[:], np.arange(5))
        assert nwb.electrodes["location"][:].tolist() == ["CA1"] * 3


def test_unknown_zarr_dtype_names_the_node_and_the_rest_reads(legacy_store: Path):
    attrs = read_doc(legacy_store, "acquisition/ts/data/.zattrs")
    attrs["zarr_dtype"] = "quaternion128"
    write_doc(legacy_store, "acquisition/ts/data/.zattrs", attrs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ZarrIO(legacy_store, "r") as io:
            root = io.read_builder()
            with pytest.raises(FormatError, match=r"/acquisition/ts/data.*unknown zarr_dtype 'quaternion128'"):
                root["acquisition/ts/data"].data[:]
            np.testing.assert_array_equal(root["acquisition/other/data"].data[:], np.arange(5))
    assert any("quaternion128" in str(w.message) for w in caught)


@pytest.mark.parametrize("spelling,stored,expected", [
    ("float64", "<f8", "float64"), ("<f8", "<f8", "float64"), ("float", "<f8", "float64"),
    ("int", "<i8", "int64"), ("<i2", "<i2", "int16"), ("int16", "<i2", "int16"), ("uint8", "|u1", "uint8"),
    ("bool", "|b1", "bool"), ("bool_", "|b1", "bool"), ("float32", "<f4", "float32"),
])
def test_zarr_dtype_spellings(legacy_store: Path, spelling: str, stored: str, expected: str):
    zarray = read_doc(legacy_store, "acquisition/other/data/.zarray")
    zarray.update(dtype=stored, fill_value=False if stored == "|b1" else 0)
    write_doc(legacy_store, "acquisition/other/data/.zarray", zarray)
    values = np.arange(5).astype(stored)
    (legacy_store / "acquisition/other/data/0").unlink()
    write_chunk(legacy_store, "acquisition/other/data", values.tobytes())
    attrs = read_doc(legacy_store, "acquisition/other/data/.zattrs")
    attrs["zarr_dtype"] = spelling
    write_doc(legacy_store, "acquisition/other/data/.zattrs", attrs)
    with ZarrIO(legacy_store, "r") as io:
        assert io.nodes["acquisition/other/data"].hdmf_dtype == expected
        data = io.read_builder()["acquisition/other/data"].data
        np.testing.assert_array_equal(data[:], values)
        assert data.dtype == np.dtype(stored)
