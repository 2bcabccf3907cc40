"""hdmf-zarr 0.14's legacy-reader names (nwbzarr.compat): a legacy store opens through either name, and the
conversion helpers do what hdmf-zarr's do (on hdmf-zarr 0.13's own stores in ../shared/data)."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

import nwbzarr
from _legacy_stores import read_doc, write_chunk, write_doc
from nwbzarr import (
    IncompleteConversionError,
    NWBZarrIO,
    NWBZarrV2IO,
    UnsafePickleCodecError,
    ZarrIO,
    ZarrV2IO,
    convert_to_v3,
    is_zarr_v2_file,
)
from nwbzarr.migrate import MigrationError

HDMF_ZARR_014_ALL = ["ZarrIO", "ZarrDataIO", "NWBZarrIO", "ZarrV2IO", "NWBZarrV2IO", "is_zarr_v2_file",
                     "IncompleteConversionError"]  # hdmf_zarr.__all__ in 0.14.0


def _content(nwb) -> dict:
    """What a reader sees of the shared `sample` file."""
    return {
        "es": np.asarray(nwb.acquisition["es"].data[:]).tolist(),
        "groups": [g.name for g in nwb.electrodes["group"].data[:]],
        "labels": [str(x) for x in nwb.trials["label"].data[:]],
        "spikes": [list(map(float, nwb.trials["spikes"][i])) for i in range(len(nwb.trials))],
        "epoch_ts": [row[2].name for row in nwb.epochs["timeseries"].target.data[:]],
        "version": nwb.nwb_version if hasattr(nwb, "nwb_version") else None,
    }


@pytest.fixture(scope="module")
def v2_sample(shared_data) -> Path:
    return shared_data / "hdmf_zarr_0.13" / "sample.nwb.zarr"


@pytest.fixture(scope="module")
def v3_content(shared_data) -> dict:
    with NWBZarrIO(shared_data / "hdmf_zarr_0.14" / "sample.nwb.zarr", "r") as io:
        return _content(io.read())


def test_every_name_hdmf_zarr_exports_is_importable_from_nwbzarr():
    assert [n for n in HDMF_ZARR_014_ALL if not hasattr(nwbzarr, n)] == []
    assert issubclass(NWBZarrV2IO, ZarrV2IO) and issubclass(NWBZarrV2IO, NWBZarrIO)
    assert issubclass(IncompleteConversionError, RuntimeError) and issubclass(UnsafePickleCodecError, ValueError)
    assert IncompleteConversionError is MigrationError


def test_legacy_store_opens_through_either_name(v2_sample, v3_content):
    with NWBZarrV2IO(v2_sample, "r") as io:
        via_v2 = _content(io.read())
        assert io.skipped_entries == [] and io.allow_pickle is False
    with NWBZarrIO(v2_sample, "r") as io:
        via_current = _content(io.read())
    assert via_v2 == via_current == v3_content
    assert _content(NWBZarrV2IO.read_nwb(v2_sample)) == v3_content
    with ZarrV2IO(v2_sample, "r-") as io, ZarrIO(v2_sample, "r") as plain:
        assert sorted(io.read_builder().groups) == sorted(plain.read_builder().groups)


def test_v2_names_are_read_only_like_hdmf_zarrs(v2_sample, tmp_path):
    for cls in (ZarrV2IO, NWBZarrV2IO):
        for mode in ("w", "a", "r+"):
            with pytest.raises(ValueError, match="read-only"):
                cls(tmp_path / f"x-{mode}.zarr", mode=mode)
    with NWBZarrV2IO(v2_sample, "r") as io:
        nwb = io.read()
        with pytest.raises(NotImplementedError, match="read-only"):
            io.write(nwb)
    assert not (tmp_path / "x-w.zarr").exists()


def test_is_zarr_v2_file(shared_data, tmp_path):
    assert is_zarr_v2_file(shared_data / "hdmf_zarr_0.13" / "sample.nwb.zarr") is True
    assert is_zarr_v2_file(str(shared_data / "hdmf_zarr_0.13" / "sample.nwb.zarr")) is True
    assert is_zarr_v2_file(shared_data / "hdmf_zarr_0.14" / "sample.nwb.zarr") is False
    assert is_zarr_v2_file(shared_data / "hdf5" / "sample.nwb") is False
    assert is_zarr_v2_file(tmp_path / "missing.zarr") is False


def test_convert_to_v3_writes_a_v3_store_with_the_same_content(v2_sample, v3_content, tmp_path):
    dest = tmp_path / "converted.nwb.zarr"
    NWBZarrV2IO.convert_to_v3(v2_sample, dest)
    assert is_zarr_v2_file(dest) is False and (dest / "zarr.json").exists()
    with NWBZarrIO(dest, "r") as io:
        assert _content(io.read()) == v3_content
    convert_to_v3(str(v2_sample), str(dest))  # like hdmf-zarr's mode "w": an existing Zarr store is replaced
    assert is_zarr_v2_file(dest) is False


def test_convert_to_v3_refuses_to_replace_something_that_is_not_zarr(v2_sample, tmp_path):
    dest = tmp_path / "precious"
    dest.mkdir()
    (dest / "thesis.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a Zarr store"):
        convert_to_v3(v2_sample, dest)
    assert (dest / "thesis.txt").read_text() == "keep me"


def test_export_to_v3_whole_file_and_edited_file(v2_sample, v3_content, tmp_path):
    with NWBZarrV2IO(v2_sample, "r") as io:
        io.export_to_v3(tmp_path / "whole.nwb.zarr")
    with NWBZarrIO(tmp_path / "whole.nwb.zarr", "r") as io:
        assert _content(io.read()) == v3_content
    with NWBZarrV2IO(v2_sample, "r") as io:
        nwb = io.read()
        io.export_to_v3(tmp_path / "edited.nwb.zarr", nwbfile=nwb)
    with NWBZarrIO(tmp_path / "edited.nwb.zarr", "r") as io:
        assert _content(io.read())["es"] == v3_content["es"]
    assert is_zarr_v2_file(tmp_path / "edited.nwb.zarr") is False


def test_unreadable_entry_makes_the_conversion_fail_by_name(v2_sample, tmp_path):
    source = tmp_path / "broken.nwb.zarr"
    shutil.copytree(v2_sample, source)
    write_doc(source, "acquisition/ts/data/.zarray", None)
    with NWBZarrV2IO(source, "r") as io:
        assert [path for path, _ in io.skipped_entries] == ["/acquisition/ts/data"]
    with pytest.raises(IncompleteConversionError, match="/acquisition/ts/data"):
        convert_to_v3(source, tmp_path / "out.nwb.zarr")


class _Touch:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("allow_pickle", [False, True])
def test_unsafe_pickle_is_refused_with_hdmf_zarrs_error_whatever_allow_pickle_says(v2_sample, tmp_path,
                                                                                    allow_pickle):
    """hdmf-zarr 0.14 runs any pickle once ``allow_pickle=True``; nwbzarr never runs one that is not data."""
    source = tmp_path / "evil.nwb.zarr"
    shutil.copytree(v2_sample, source)
    array = "general/extracellular_ephys/electrodes/group"
    zarray = read_doc(source, f"{array}/.zarray")
    marker = tmp_path / "pwned"
    values = np.empty(zarray["shape"][0], dtype=object)
    values[:] = [_Touch(str(marker))] + [None] * (len(values) - 1)
    write_chunk(source, array, pickle.dumps(values, protocol=5))
    with NWBZarrV2IO(source, "r", allow_pickle=allow_pickle) as io:
        with pytest.raises(UnsafePickleCodecError, match="refusing to unpickle"):
            io.read_builder()[array].data[:]
    assert not marker.exists()
