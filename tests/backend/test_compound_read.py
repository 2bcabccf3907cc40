"""Compound datasets read back as numpy structured data with their stored field types, as NWBHDF5IO gives;
reference fields resolve to containers; empty text datasets keep a text dtype. Both layouts."""

from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hdmf.backends.hdf5 import HDF5IO
from hdmf.build import DatasetBuilder, GroupBuilder
from hdmf.common import get_manager
from hdmf.spec import DtypeSpec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pynwb import NWBHDF5IO

from _nwb_factory import broad_nwbfile
from nwbzarr import NWBZarrIO, ZarrIO

FORMATS = [3, 2]
FIELD_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"]


def _broad_with_voxels():
    """The broad file plus a plane segmentation with voxel masks (x, y, z, weight)."""
    nwb = broad_nwbfile()
    seg = nwb.processing["ophys"]["ImageSegmentation"]
    plane = seg["planes"].imaging_plane
    voxels = seg.create_plane_segmentation("voxels", plane, name="voxels")
    voxels.add_roi(voxel_mask=[(1, 2, 3, 1.0), (4, 5, 6, 0.5)])
    voxels.add_roi(voxel_mask=[(7, 8, 9, 0.25)])
    return nwb


@pytest.fixture(scope="module")
def broad_files(tmp_path_factory) -> dict:
    """The broad NWB file (with voxel masks) written once with NWBHDF5IO and once per Zarr layout."""
    folder = tmp_path_factory.mktemp("compound")
    paths = {"hdf5": folder / "broad.nwb"}
    with NWBHDF5IO(paths["hdf5"], "w") as io:
        io.write(_broad_with_voxels())
    for fmt in FORMATS:
        paths[fmt] = folder / f"broad.v{fmt}.nwb.zarr"
        with NWBZarrIO(paths[fmt], "w", zarr_format=fmt) as io:
            io.write(_broad_with_voxels())
    return paths


def _pixel_mask(nwb):
    return nwb.processing["ophys"]["ImageSegmentation"]["planes"].pixel_mask.data  # the spelling


@pytest.mark.parametrize("fmt", FORMATS)
def test_voxel_mask_and_ragged_rows_like_hdf5(broad_files, fmt):
    with NWBHDF5IO(broad_files["hdf5"], "r") as hio, NWBZarrIO(broad_files[fmt], "r") as zio:
        h_seg = hio.read().processing["ophys"]["ImageSegmentation"]
        z_seg = zio.read().processing["ophys"]["ImageSegmentation"]
        z, h = z_seg["voxels"]["voxel_mask"].target.data, h_seg["voxels"]["voxel_mask"].target.data
        assert z.dtype.names == ("x", "y", "z", "weight") and z[:].dtype == h[:].dtype
        assert type(z[2]["z"]) is type(h[2]["z"]) is np.uint32 and z[2]["z"] == 9
        for name in ("voxels", "planes"):
            column = "voxel_mask" if name == "voxels" else "pixel_mask"
            for row in range(len(h_seg[name])):
                got, want = z_seg[name][column][row], h_seg[name][column][row]
                assert isinstance(got, np.ndarray) and got.dtype == want.dtype
                np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("fmt", FORMATS)
def test_pixel_mask_is_structured_like_hdf5(broad_files, fmt):
    with NWBHDF5IO(broad_files["hdf5"], "r") as hio, NWBZarrIO(broad_files[fmt], "r") as zio:
        h, z = _pixel_mask(hio.read()), _pixel_mask(zio.read())
        assert z.dtype.names == ("x", "y", "weight")
        assert z.dtype == h[:].dtype == np.dtype([("x", "<u4"), ("y", "<u4"), ("weight", "<f4")])
        assert type(z[0]) is type(h[0]) is np.void
        assert type(z[0]["x"]) is type(h[0]["x"]) is np.uint32
        assert z[0]["x"] == h[0]["x"] and z[0][1] == h[0][1]
        np.testing.assert_array_equal(z[:]["weight"], h[:]["weight"])
        assert z[:]["weight"].dtype == np.float32
        for key in (slice(1, 3), [0, 2], slice(None)):
            assert isinstance(z[key], np.ndarray) and z[key].dtype == h[key].dtype
            np.testing.assert_array_equal(z[key], h[key])
        assert [tuple(r) for r in z] == [tuple(r) for r in h]
        np.testing.assert_array_equal(np.asarray(z), h[:])


def _epoch_rows(nwb):
    return nwb.epochs["timeseries"].target.data


def _assert_epochs_like_hdf5(z_nwb, h_nwb) -> None:
    z, h = _epoch_rows(z_nwb), _epoch_rows(h_nwb)
    assert z.dtype == h.dtype == ["int32", "int32", "object"]
    assert type(z[0]) is type(h[0]) is np.void
    assert z[0].dtype.names == h[0].dtype.names == ("idx_start", "count", "timeseries")
    rows_z, rows_h = z[:], h[:]
    assert rows_z.dtype == rows_h.dtype
    np.testing.assert_array_equal(rows_z["idx_start"], rows_h["idx_start"])
    np.testing.assert_array_equal(rows_z["count"], rows_h["count"])
    assert [r["timeseries"].name for r in rows_z] == [r["timeseries"].name for r in rows_h]
    for row in rows_z:  # references resolve to the file's own containers
        assert row["timeseries"] is z_nwb.acquisition[row["timeseries"].name]
    assert type(z[0]["idx_start"]) is type(h[0]["idx_start"]) is np.int32
    for i in range(len(h_nwb.epochs)):
        assert z_nwb.epochs["timeseries"][i][0][:2] == h_nwb.epochs["timeseries"][i][0][:2]
    df_z, df_h = z_nwb.epochs.to_dataframe(), h_nwb.epochs.to_dataframe()
    assert [[(r[0], r[1], getattr(r[2], "name", None)) for r in cell] for cell in df_z["timeseries"]] == \
        [[(r[0], r[1], getattr(r[2], "name", None)) for r in cell] for cell in df_h["timeseries"]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_epochs_reference_column_resolves_like_hdf5(broad_files, fmt):
    with NWBHDF5IO(broad_files["hdf5"], "r") as hio, NWBZarrIO(broad_files[fmt], "r") as zio:
        _assert_epochs_like_hdf5(zio.read(), hio.read())


@pytest.mark.parametrize("folder", ["hdmf_zarr_0.13", "hdmf_zarr_0.14"])
def test_shared_sample_epochs_like_hdf5(shared_data, folder):
    with NWBHDF5IO(shared_data / "hdf5" / "sample.nwb", "r") as hio, \
            NWBZarrIO(shared_data / folder / "sample.nwb.zarr", "r") as zio:
        _assert_epochs_like_hdf5(zio.read(), hio.read())


@pytest.mark.parametrize("fmt", FORMATS)
def test_icephys_reference_columns_are_structured(broad_files, fmt):
    with NWBHDF5IO(broad_files["hdf5"], "r") as hio, NWBZarrIO(broad_files[fmt], "r") as zio:
        z_nwb, h_nwb = zio.read(), hio.read()
        z = z_nwb.intracellular_recordings.category_tables["responses"]["response"].data
        h = h_nwb.intracellular_recordings.category_tables["responses"]["response"].data
        assert z.dtype == h.dtype and type(z[0]) is type(h[0]) is np.void
        assert z[0]["timeseries"] is z_nwb.acquisition["resp"]
        assert (z[0]["idx_start"], z[0]["count"]) == (h[0]["idx_start"], h[0]["count"])
        assert z_nwb.intracellular_recordings["responses"]["response"][0].timeseries is z_nwb.acquisition["resp"]


# --- builder level, generated field types, compared with HDF5IO on the same builders ---------------------
def _write_read(root_factory, folder: Path) -> dict:
    """The compound dataset ``c`` of ``root_factory()`` written and read by HDF5IO and by each Zarr layout."""
    out = {}
    with HDF5IO(str(folder / "c.h5"), "w", manager=get_manager()) as io:
        io.write_builder(root_factory())
    hio = HDF5IO(str(folder / "c.h5"), "r", manager=get_manager())
    out["hdf5"] = (hio, hio.read_builder()["c"])
    for fmt in FORMATS:
        with ZarrIO(folder / f"c{fmt}.zarr", "w", zarr_format=fmt) as io:
            io.write_builder(root_factory(), cache_spec=False)
        zio = ZarrIO(folder / f"c{fmt}.zarr", "r")
        out[fmt] = (zio, zio.read_builder()["c"])
    return out


def _field_value(dtype: str):
    npd = np.dtype(dtype)
    if npd.kind == "f":
        return st.floats(width=8 * npd.itemsize, allow_nan=False)
    info = np.iinfo(npd)
    return st.integers(int(info.min), int(info.max))


@st.composite
def compound_tables(draw):
    dtypes = draw(st.lists(st.sampled_from(FIELD_DTYPES), min_size=1, max_size=4))
    with_text = draw(st.booleans())
    fields = [(f"f{i}", d) for i, d in enumerate(dtypes)] + ([("label", "text")] if with_text else [])
    text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6)
    row = st.tuples(*[_field_value(d) if d != "text" else text for _, d in fields])
    return fields, draw(st.lists(row, min_size=1, max_size=6))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=compound_tables())
def test_compound_field_types_match_hdf5(table):
    fields, rows = table

    def root_factory():
        root = GroupBuilder("root")
        spec = [DtypeSpec(n, "field", d) for n, d in fields]
        root.set_dataset(DatasetBuilder("c", data=list(rows), dtype=spec))
        return root

    with tempfile.TemporaryDirectory(prefix="nwbzarr-cpd-") as folder:
        read = _write_read(root_factory, Path(folder))
        try:
            h = read["hdf5"][1].data
            h_rows = h[:]
            for fmt in FORMATS:
                z = read[fmt][1].data
                z_rows = z[:]
                assert z.dtype.names == tuple(n for n, _ in fields)
                assert z_rows.dtype.names == h_rows.dtype.names
                assert type(z[0]) is np.void and type(h[0]) is np.void
                for name, dtype in fields:
                    if dtype == "text":
                        assert z_rows.dtype[name] == np.dtype(object)
                        assert list(z_rows[name]) == [r[-1] for r in rows] == list(h_rows[name])
                        continue
                    assert z_rows.dtype[name] == h_rows.dtype[name] == np.dtype(dtype)
                    assert type(z[0][name]) is type(h[0][name])
                    np.testing.assert_array_equal(z_rows[name], h_rows[name])
        finally:
            for io, _ in read.values():
                io.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_text_dataset_has_a_text_dtype(tmp_path, fmt):
    def root_factory():
        root = GroupBuilder("root")
        root.set_dataset(DatasetBuilder("c", data=[], dtype="text"))
        return root

    read = _write_read(root_factory, tmp_path)
    h, z = read["hdf5"][1], read[fmt][1]
    assert len(z.data) == 0 and z.data[:].dtype == h.data[:].dtype == np.dtype(object)
    assert z.data.dtype == h.data.dtype and z.data.dtype.metadata == h.data.dtype.metadata == {"vlen": str}
    assert h5py.check_string_dtype(z.data.dtype) == h5py.check_string_dtype(h.data.dtype)
    assert z.dtype == h.dtype and z.dtype.metadata == {"vlen": str}
    for io, _ in read.values():
        io.close()


@pytest.mark.parametrize("which", ["hdf5", *FORMATS])
def test_compound_datasets_validate_like_hdf5(broad_files, which):
    """hdmf's validator (what pynwb.validate runs) checks compound field types from the data read: the
    pixel masks and the electrode position pass as they do from NWBHDF5IO."""
    from hdmf.validate import ValidatorMap

    io = NWBHDF5IO(broad_files["hdf5"], "r") if which == "hdf5" else NWBZarrIO(broad_files[which], "r")
    with io:
        validator = ValidatorMap(io.manager.namespace_catalog.get_namespace("core"))
        assert [str(e) for e in validator.validate(io.read_builder())] == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_scalar_compound_reads_as_0d_like_hdf5(broad_files, fmt):
    """ElectrodeGroup.position: 0-d in HDF5 and the current layout, one row in the legacy layout (its spec
    says scalar, so it reads back 0-d too)."""
    with NWBHDF5IO(broad_files["hdf5"], "r") as hio, NWBZarrIO(broad_files[fmt], "r") as zio:
        h = hio.read().electrode_groups["shank0"].position
        z = zio.read().electrode_groups["shank0"].position
        assert isinstance(z, np.ndarray) and z.shape == h.shape == () and z.dtype == h.dtype
        assert z[()].tolist() == h[()].tolist() == (1.0, 2.0, 3.0)
