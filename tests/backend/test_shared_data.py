"""Interoperability with files written by other tools: hdmf-zarr 0.14 stores and real HDF5 NWB files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pynwb import NWBHDF5IO

from _helpers import assert_containers_equal
from nwbzarr import NWBZarrIO
from nwbzarr.convert import convert

CURRENT_STORES = ["sample", "dci", "sharded", "extlink"]


@pytest.mark.parametrize("name", CURRENT_STORES)
def test_hdmf_zarr_014_store_reads_like_its_hdf5(shared_data: Path, name: str):
    with NWBZarrIO(shared_data / "hdmf_zarr_0.14" / f"{name}.nwb.zarr", "r") as zio, \
            NWBHDF5IO(shared_data / "hdf5" / f"{name}.nwb", "r") as hio:
        assert_containers_equal(zio.read(), hio.read())


def test_hdmf_zarr_014_anm_export_reads(shared_data: Path):
    """anm.nwb.zarr was rebuilt with a newer schema than hdf5/anm.nwb: check its content directly."""
    with NWBZarrIO(shared_data / "hdmf_zarr_0.14" / "anm.nwb.zarr", "r") as zio, \
            NWBHDF5IO(shared_data / "hdf5" / "anm.nwb", "r") as hio:
        z, h = zio.read(), hio.read()
        assert z.identifier == h.identifier == "anm00239123_2017-06-27_09-35-49"
        assert z.units.to_dataframe().shape[0] == h.units.to_dataframe().shape[0]
        for col in ("spike_times",):
            for i in range(len(h.units)):
                assert list(z.units[col][i]) == list(h.units[col][i])


def test_sharded_arrays_keep_values(shared_data: Path):
    with NWBZarrIO(shared_data / "hdmf_zarr_0.14" / "sharded.nwb.zarr", "r") as zio:
        data = zio.read().acquisition["sharded"].data
        assert data.shape == (1000, 4)
        assert data.chunks == (500, 4) or data.chunks == (100, 4)


def _pynwb_reads(path: Path) -> bool:
    try:
        with NWBHDF5IO(path, "r") as io:
            io.read()
        return True
    except Exception:
        return False


def _hdf5_files(root: Path) -> list[Path]:
    files = sorted((root / "hdf5").glob("*.nwb")) + sorted((root / "real").glob("*.nwb"))
    return [f for f in files if _pynwb_reads(f)]


def test_every_readable_hdf5_file_survives_hdf5_zarr_hdf5(shared_data: Path, tmp_path: Path):
    for folder in ("hdf5", "real"):
        (tmp_path / folder).mkdir()
    files = _hdf5_files(shared_data)
    assert len(files) >= 8
    # siblings first: extlink.nwb links into sample.nwb, whose Zarr copy must exist beside it
    files.sort(key=lambda f: f.name == "extlink.nwb")
    for src in files:
        local = tmp_path / src.parent.name / src.name
        shutil.copy(src, local)
        zarr_path = local.with_name(local.name + ".zarr")
        back = tmp_path / "back" / src.parent.name / src.name
        back.parent.mkdir(parents=True, exist_ok=True)
        convert(local, zarr_path)
        convert(zarr_path, back)
        with NWBHDF5IO(local, "r") as a, NWBZarrIO(zarr_path, "r", manager=a.manager) as b, \
                NWBHDF5IO(back, "r", manager=a.manager) as c:
            original = a.read()
            assert_containers_equal(original, b.read())
            assert_containers_equal(original, c.read())


def test_external_links_follow_the_converted_sibling(shared_data: Path, tmp_path: Path):
    for name in ("sample", "extlink"):
        shutil.copy(shared_data / "hdf5" / f"{name}.nwb", tmp_path / f"{name}.nwb")
    with pytest.raises(Exception, match="convert that file"):
        convert(tmp_path / "extlink.nwb", tmp_path / "extlink.nwb.zarr")
    convert(tmp_path / "sample.nwb", tmp_path / "sample.nwb.zarr")
    convert(tmp_path / "extlink.nwb", tmp_path / "extlink.nwb.zarr", overwrite=True)
    with NWBZarrIO(tmp_path / "extlink.nwb.zarr", "r") as io:
        ext = io.read().acquisition["ext"]
        with NWBZarrIO(tmp_path / "sample.nwb.zarr", "r") as sio:
            assert list(ext.data[:]) == list(sio.read().acquisition["ts"].data[:])
