"""``export`` as ``NWBHDF5IO.export`` does it: default ``write_args`` copy the source's data (the result never
links back into the store it was exported from), links into a third store stay external links that resolve,
and ``link_data=False`` rebuilds every object from its container, migrating an old file to the installed schema.
"""

from __future__ import annotations

import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
from hdmf.build import Builder, DatasetBuilder, GroupBuilder, LinkBuilder, ReferenceBuilder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pynwb import NWBHDF5IO, NWBFile, TimeSeries

from _helpers import assert_containers_equal
from _nwb_factory import broad_nwbfile
from nwbzarr import NWBZarrIO


def _nwbfile(data: np.ndarray, name: str = "ts") -> NWBFile:
    nwb = NWBFile(session_description="export", identifier="export-1",
                  session_start_time=datetime(2024, 1, 2, tzinfo=UTC))
    nwb.add_acquisition(TimeSeries(name=name, data=data, unit="m", rate=10.0))
    return nwb


def _write_zarr(path: Path, nwb: NWBFile) -> None:
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwb)


def _external_links(io: NWBZarrIO) -> list[tuple[str, str, str]]:
    """Every link in a store whose target lives in another store: (node path, name, source)."""
    return [(path, name, ref.source) for path, node in io.nodes.items() for name, ref in node.links
            if ref.source not in (".", "", None)]


# --- point 1: default write_args ----------------------------------------------------------------------
@pytest.mark.parametrize("zarr_format", [None, 2], ids=["current", "legacy"])
def test_default_export_copies_everything_and_outlives_its_source(tmp_path, zarr_format):
    """NWBHDF5IO -> NWBHDF5IO export with default write_args copies the file; so must Zarr -> Zarr."""
    nwb = broad_nwbfile()
    src, dst = tmp_path / "src.nwb.zarr", tmp_path / "dst.nwb.zarr"
    with NWBZarrIO(src, mode="w", zarr_format=zarr_format) as io:
        io.write(nwb)
    with NWBZarrIO(src, mode="r") as read_io, NWBZarrIO(dst, mode="w", zarr_format=zarr_format) as export_io:
        export_io.export(src_io=read_io)
    shutil.rmtree(src)
    with NWBZarrIO(dst, mode="r") as io:
        assert _external_links(io) == []
        assert_containers_equal(io.read(), nwb)


def test_export_io_classmethod_matches_hdf5io_export_io(tmp_path):
    """``NWBZarrIO.export_io(path=..., src_io=...)`` is the spelling pynwb's round-trip mixins use."""
    data = np.arange(12.0)
    _write_zarr(tmp_path / "a.zarr", _nwbfile(data))
    with NWBZarrIO(tmp_path / "a.zarr", mode="r") as read_io:
        NWBZarrIO.export_io(path=str(tmp_path / "b.zarr"), src_io=read_io)
    with NWBZarrIO(tmp_path / "b.zarr", mode="r") as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], data)


def _hdf5_link_chain(tmp_path: Path, data: np.ndarray) -> h5py.ExternalLink | h5py.HardLink:
    """What HDF5 does: A holds data, B links to it, B is exported to C; how C stores B's linked dataset."""
    with NWBHDF5IO(tmp_path / "a.nwb", mode="w") as io:
        io.write(_nwbfile(data))
    with NWBHDF5IO(tmp_path / "a.nwb", mode="r") as a_io:
        linked = a_io.read().acquisition["ts"].data
        with NWBHDF5IO(tmp_path / "b.nwb", mode="w") as io:
            io.write(_nwbfile(linked, name="linked"))
    with NWBHDF5IO(tmp_path / "b.nwb", mode="r") as b_io, NWBHDF5IO(tmp_path / "c.nwb", mode="w") as c_io:
        c_io.export(src_io=b_io)
    with h5py.File(tmp_path / "c.nwb", "r") as f:
        return f["acquisition/linked"].get("data", getlink=True)


def test_export_keeps_links_into_a_third_store_as_external_links(tmp_path):
    """A dataset B links from A stays a link to A in B's export (as HDF5 writes an ExternalLink); it resolves."""
    data = np.linspace(0, 1, 7)
    assert isinstance(_hdf5_link_chain(tmp_path, data), h5py.ExternalLink)
    _write_zarr(tmp_path / "a.zarr", _nwbfile(data))
    with NWBZarrIO(tmp_path / "a.zarr", mode="r") as a_io:
        with NWBZarrIO(tmp_path / "b.zarr", mode="w") as io:
            io.write(_nwbfile(a_io.read().acquisition["ts"].data, name="linked"))
    with NWBZarrIO(tmp_path / "b.zarr", mode="r") as b_io, NWBZarrIO(tmp_path / "c.zarr", mode="w") as c_io:
        c_io.export(src_io=b_io)
    with NWBZarrIO(tmp_path / "c.zarr", mode="r") as io:
        assert _external_links(io) == [("acquisition/linked", "data", "../a.zarr")]
        np.testing.assert_array_equal(io.read().acquisition["linked"].data[:], data)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=arrays(st.sampled_from([np.int16, np.uint32, np.float32, np.float64]), st.integers(1, 40)),
       link_data=st.booleans())
def test_exported_data_equals_source_for_any_array(tmp_path_factory, data, link_data):
    tmp = tmp_path_factory.mktemp("exp")
    _write_zarr(tmp / "a.zarr", _nwbfile(data))
    with NWBZarrIO(tmp / "a.zarr", mode="r") as read_io, NWBZarrIO(tmp / "b.zarr", mode="w") as export_io:
        export_io.export(src_io=read_io, write_args={"link_data": link_data})
    shutil.rmtree(tmp / "a.zarr")
    with NWBZarrIO(tmp / "b.zarr", mode="r") as io:
        read = io.read().acquisition["ts"].data
        assert read.dtype == data.dtype
        np.testing.assert_array_equal(read[:], data)


# --- point 2: link_data=False rebuilds from containers ------------------------------------------------
def _normalized(builder: Builder, path: str = "") -> dict[str, tuple]:
    """Every node of a builder tree: kind, neurodata type and attributes (references as target paths)."""
    if isinstance(builder, LinkBuilder):
        return {path: ("link", _target_path(builder.builder))}
    attrs = {k: _attr(v) for k, v in builder.attributes.items() if k != "object_id"}
    out = {path: (type(builder).__name__, tuple(sorted(attrs.items())))}
    if isinstance(builder, GroupBuilder):
        children = {**builder.groups, **builder.datasets, **builder.links}
        for name, child in children.items():
            if not (path == "" and name == "specifications"):
                out.update(_normalized(child, f"{path}/{name}"))
    return out


def _attr(value):
    if isinstance(value, ReferenceBuilder):
        value = value.builder
    if isinstance(value, (GroupBuilder, DatasetBuilder)):
        return ("ref", _target_path(value))
    if isinstance(value, bytes):
        return value.decode()
    arr = np.asarray(value)
    return tuple(str(v) for v in arr.reshape(-1)) if arr.ndim else str(arr)


def _target_path(builder: Builder) -> str:
    names = []
    while builder.parent is not None:
        names.append(builder.name)
        builder = builder.parent
    return "/" + "/".join(reversed(names))


NWB_21 = ["hdf5/anm.nwb", "real/1.1.2_nwbfile.nwb", "real/1.5.1_timeseries_no_unit.nwb",
          "real/2.1.0_imageseries_non_external_format.nwb", "real/2.2.0_subject_no_age__reference.nwb"]


@pytest.mark.parametrize("name", NWB_21)
def test_export_without_links_migrates_like_nwbhdf5io(shared_data, tmp_path, name):
    """Zarr -> Zarr export with link_data=False writes what NWBHDF5IO -> NWBHDF5IO export writes for the same
    file: the installed schema's nwb_version, ElectrodesTable, default descriptions, same attributes."""
    source = shared_data / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(source, "r") as read_io, NWBHDF5IO(tmp_path / "h.nwb", "w") as export_io:
            export_io.export(src_io=read_io, write_args={"link_data": False})
        with NWBHDF5IO(source, "r") as read_io, NWBZarrIO(tmp_path / "old.zarr", "w") as export_io:
            export_io.export(src_io=read_io)  # builders as read: the file's own (old) version
        with NWBZarrIO(tmp_path / "old.zarr", "r") as read_io, NWBZarrIO(tmp_path / "new.zarr", "w") as export_io:
            old_version = read_io.read_builder().attributes["nwb_version"]
            export_io.export(src_io=read_io, write_args={"link_data": False})
        with NWBHDF5IO(tmp_path / "h.nwb", "r") as h_io, NWBZarrIO(tmp_path / "new.zarr", "r") as z_io:
            expected, got = _normalized(h_io.read_builder()), _normalized(z_io.read_builder())
    assert dict(expected[""][1])["nwb_version"] != old_version  # the export migrated the file
    assert got == expected


# --- a file whose TimeSeries data are external links (the shared extlink store) ------------------------
def _hdf5_export_link_kind(shared_data: Path, tmp_path: Path, link_data: bool) -> str:
    out = tmp_path / f"hdf5-{link_data}.nwb"
    with NWBHDF5IO(shared_data / "hdf5" / "extlink.nwb", "r") as src, NWBHDF5IO(out, "w") as dst:
        dst.export(src_io=src, write_args={"link_data": link_data})
    with h5py.File(out, "r") as fh:
        return type(fh["acquisition/ext"].get("data", getlink=True)).__name__


@pytest.mark.parametrize("folder", ["hdmf_zarr_0.14", "hdmf_zarr_0.13"])
@pytest.mark.parametrize("link_data", [False, True])
def test_export_of_externally_linked_data_copies_or_links_as_hdf5(shared_data, tmp_path, folder, link_data):
    """pynwb rebuilds a TimeSeries whose data is an external link as a link to a dataset of no file: HDF5IO copies
    it with ``link_data=False`` and keeps an external link otherwise; so does nwbzarr."""
    out = tmp_path / "out.nwb.zarr"
    with NWBZarrIO(shared_data / folder / "extlink.nwb.zarr", "r") as src, NWBZarrIO(out, "w") as dst:
        dst.export(src_io=src, write_args={"link_data": link_data})
    expected_kind = {False: "HardLink", True: "ExternalLink"}[link_data]
    assert _hdf5_export_link_kind(shared_data, tmp_path, link_data) == expected_kind
    with NWBZarrIO(out, "r", external_links="local") as io:
        links = {name for _, name, _ in _external_links(io)}
        ext = io.read().acquisition["ext"]
        assert links == ({"data", "timestamps"} if link_data else set())
        with NWBHDF5IO(shared_data / "hdf5" / "sample.nwb", "r") as h5:
            ts = h5.read().acquisition["ts"]
            np.testing.assert_array_equal(ext.data[:], ts.data[:])
            np.testing.assert_array_equal(ext.timestamps[:], ts.timestamps[:])
