"""Reading hdmf-zarr 0.13 stores (legacy layout, Zarr v2): content equal to the HDF5 originals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numcodecs
import numpy as np
import pytest
from hdmf.build import DatasetBuilder, GroupBuilder
from pynwb import NWBHDF5IO

from _helpers import assert_containers_equal
from _legacy_stores import chunk_bytes, copy_store, read_doc, write_chunk, write_doc
from nwbzarr import NWBZarrIO
from nwbzarr.backend.io import ZarrIO
from nwbzarr.format.legacy import LegacyLayout
from nwbzarr.format.legacy_codecs import restricted_loads
from nwbzarr.format.reference import ZarrReference

LEGACY = "hdmf_zarr_0.13"
SAME_AS_HDF5 = ["sample", "dci", "sharded", "extlink"]


@pytest.mark.parametrize("name", SAME_AS_HDF5)
def test_legacy_store_reads_like_its_hdf5(shared_data: Path, name: str):
    with NWBZarrIO(shared_data / LEGACY / f"{name}.nwb.zarr", "r") as zio, \
            NWBHDF5IO(shared_data / "hdf5" / f"{name}.nwb", "r") as hio:
        assert isinstance(zio.layout, LegacyLayout)
        assert_containers_equal(zio.read(), hio.read())


def test_legacy_anm_reads_like_the_current_layout_export(shared_data: Path):
    """anm.nwb.zarr is an export with a newer schema than hdf5/anm.nwb: compare with the 0.14 store."""
    with NWBZarrIO(shared_data / LEGACY / "anm.nwb.zarr", "r") as old, \
            NWBZarrIO(shared_data / "hdmf_zarr_0.14" / "anm.nwb.zarr", "r") as new:
        a, b = old.read(), new.read()
        assert_containers_equal(a, b)
        assert a.electrodes["group"][0].name == b.electrodes["group"][0].name


def _datasets(builder: GroupBuilder, prefix: str = ""):
    for name, sub in builder.groups.items():
        yield from _datasets(sub, f"{prefix}/{name}")
    for name, ds in builder.datasets.items():
        yield f"{prefix}/{name}", ds


def _plain(value):
    if isinstance(value, (GroupBuilder, DatasetBuilder)):
        return ("builder", value.name, value.parent.name if value.parent is not None else None)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):  # 0.13 stores ascii/isodatetime as vlen-bytes (read as bytes), 0.14 as strings
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype.names is not None:  # compound rows
        return [_plain(tuple(row)) for row in value.reshape(-1)]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.dtype.kind == "O" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


@pytest.mark.parametrize("name", ["sample", "dci", "sharded", "anm"])
def test_legacy_builders_hold_the_values_of_the_current_layout(shared_data: Path, name: str):
    """Builder level: every dataset of the 0.13 store has the values of the same dataset in the 0.14 store."""
    with ZarrIO(shared_data / LEGACY / f"{name}.nwb.zarr", "r") as old, \
            ZarrIO(shared_data / "hdmf_zarr_0.14" / f"{name}.nwb.zarr", "r") as new:
        a = dict(_datasets(old.read_builder()))
        b = dict(_datasets(new.read_builder()))
        assert sorted(a) == sorted(b)
        for path in a:
            da, db = a[path].data, b[path].data
            va = da[:] if hasattr(da, "shape") and da.shape else da
            vb = db[:] if hasattr(db, "shape") and db.shape else db
            if isinstance(va, np.ndarray) and va.dtype.kind in "biuf":
                np.testing.assert_array_equal(va, vb, err_msg=path)
            else:
                assert _plain(va) == _plain(vb), path


def test_scalars_text_bytes_datetimes_and_attribute_references(shared_data: Path):
    with ZarrIO(shared_data / LEGACY / "sample.nwb.zarr", "r") as io:
        root = io.read_builder()
        nodes = io.nodes
        assert nodes["session_description"].scalar_as_1d
        assert root["session_description"].data == "fixture sample"
        # vlen-bytes values stay bytes, as hdmf-zarr 0.13 hands them over (pynwb parses dates from bytes)
        assert root["session_start_time"].data == b"2024-01-02T03:04:05+00:00"
        assert nodes["file_create_date"].hdmf_dtype == "bytes"
        assert list(root["file_create_date"].data[:]) == [b"2024-01-02T04:00:00+00:00"]
        assert root["file_create_date"].data.dtype.metadata == {"vlen": bytes}
        assert nodes["acquisition/es/starting_time"].scalar_as_1d
        assert root["acquisition/es/starting_time"].data == 0.0
        region = root["acquisition/es/electrodes"]
        assert region.attributes["table"] is root["general/extracellular_ephys/electrodes"]
        assert "zarr_dtype" not in region.attributes and "_ARRAY_DIMENSIONS" not in region.attributes
        assert root.attributes.get(".specloc") is None


def test_references_pickled_and_compound_columns_resolve(shared_data: Path):
    with ZarrIO(shared_data / LEGACY / "sample.nwb.zarr", "r") as io:
        root = io.read_builder()
        groups = root["general/extracellular_ephys/electrodes/group"].data
        assert [b.name for b in groups[:]] == ["shank0", "shank0", "shank0"]
        epochs = root["intervals/epochs/timeseries"].data
        rows = epochs[:]
        assert [(r[0], r[1], r[2].name) for r in rows] == [(0, 5, "ts"), (5, 4, "ts"), (500, 500, "es")]


def test_links_with_and_without_object_ids(shared_data: Path, tmp_path: Path):
    store = copy_store(shared_data / LEGACY / "sample.nwb.zarr", tmp_path / "sample.nwb.zarr")
    key = "general/extracellular_ephys/shank1/.zattrs"
    attrs = read_doc(store, key)
    attrs["zarr_link"][0].update(object_id="1ae4b577-1c42-4ecb-87bf-571d50316ea3", source_object_id=None)
    write_doc(store, key, attrs)
    with ZarrIO(store, "r") as io:
        root = io.read_builder()
        for shank in ("shank0", "shank1"):
            link = root[f"general/extracellular_ephys/{shank}"].links["device"]
            assert link.builder is root["general/devices/probe"]


def test_old_release_sources_relative_to_the_containing_folder(shared_data: Path, tmp_path: Path):
    """One old release wrote ``source`` relative to the folder holding the store (its own name for itself)."""
    sample = copy_store(shared_data / LEGACY / "sample.nwb.zarr", tmp_path / "sample.nwb.zarr")
    ext = copy_store(shared_data / LEGACY / "extlink.nwb.zarr", tmp_path / "extlink.nwb.zarr")
    key = "acquisition/ts_linked/.zattrs"
    attrs = read_doc(sample, key)
    attrs["zarr_link"][0]["source"] = "sample.nwb.zarr"
    write_doc(sample, key, attrs)
    key = "acquisition/ext/.zattrs"
    attrs = read_doc(ext, key)
    for link in attrs["zarr_link"]:
        link["source"] = "sample.nwb.zarr"
    write_doc(ext, key, attrs)
    for name in ("sample", "extlink"):
        with NWBZarrIO(tmp_path / f"{name}.nwb.zarr", "r") as zio, \
                NWBHDF5IO(shared_data / "hdf5" / f"{name}.nwb", "r") as hio:
            assert_containers_equal(zio.read(), hio.read())


def test_without_consolidated_metadata(shared_data: Path, tmp_path: Path):
    store = copy_store(shared_data / LEGACY / "sample.nwb.zarr", tmp_path / "sample.nwb.zarr")
    (store / ".zmetadata").unlink()
    with NWBZarrIO(store, "r") as zio, NWBHDF5IO(shared_data / "hdf5" / "sample.nwb", "r") as hio:
        assert_containers_equal(zio.read(), hio.read())


def test_mode_r_dash_ignores_a_stale_zmetadata(shared_data: Path, tmp_path: Path):
    store = copy_store(shared_data / LEGACY / "sample.nwb.zarr", tmp_path / "sample.nwb.zarr")
    meta = read_doc(store, ".zmetadata")
    meta["metadata"]["acquisition/ts/data/.zattrs"]["unit"] = "stale"
    (store / ".zmetadata").write_text(json.dumps(meta))
    with ZarrIO(store, "r") as io:
        assert io.read_builder()["acquisition/ts/data"].attributes["unit"] == "stale"
    with ZarrIO(store, "r-") as io:
        assert io.read_builder()["acquisition/ts/data"].attributes["unit"] == "m"


def _nest_chunk_keys(store: Path, array: str) -> None:
    zarray = read_doc(store, f"{array}/.zarray")
    for chunk in sorted(p for p in (store / array).iterdir() if not p.name.startswith(".")):
        parts = chunk.name.split(".")
        dest = store / array / Path(*parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if len(parts) > 1:
            os.replace(chunk, dest)
    zarray["dimension_separator"] = "/"
    write_doc(store, f"{array}/.zarray", zarray)


def test_nested_and_flat_chunk_keys_read_the_same(shared_data: Path, tmp_path: Path):
    store = copy_store(shared_data / LEGACY / "sharded.nwb.zarr", tmp_path / "sharded.nwb.zarr")
    for array in ("acquisition/sharded/data", "acquisition/sharded_int/data"):
        _nest_chunk_keys(store, array)
    assert (store / "acquisition/sharded_int/data/1/1").exists()
    assert not (store / "acquisition/sharded_int/data/1.1").exists()
    with NWBZarrIO(store, "r") as zio, NWBHDF5IO(shared_data / "hdf5" / "sharded.nwb", "r") as hio:
        z, h = zio.read(), hio.read()
        assert_containers_equal(z, h)
        np.testing.assert_array_equal(z.acquisition["sharded_int"].data[7:93, 3:9],
                                      h.acquisition["sharded_int"].data[7:93, 3:9])


def test_json2_reference_and_compound_datasets(shared_data: Path, tmp_path: Path):
    """The same store with its pickled datasets re-encoded by numcodecs' json2 codec (as hdmf-zarr's option)."""
    store = copy_store(shared_data / LEGACY / "sample.nwb.zarr", tmp_path / "sample.nwb.zarr")
    for array in ("general/extracellular_ephys/electrodes/group", "intervals/epochs/timeseries"):
        values = restricted_loads(chunk_bytes(store, array))
        rows = np.empty(values.shape, dtype=object)
        for i, v in enumerate(values):
            item = tuple(v.tolist()) if isinstance(v, np.void) else v
            rows[i] = [dict(x) if isinstance(x, dict) else x for x in item] if isinstance(item, tuple) else dict(item)
        write_chunk(store, array, numcodecs.JSON().encode(rows))
        zarray = read_doc(store, f"{array}/.zarray")
        zarray["filters"] = [numcodecs.JSON().get_config()]
        zarray["fill_value"] = None if isinstance(zarray["dtype"], list) else 0
        write_doc(store, f"{array}/.zarray", zarray)
    with NWBZarrIO(store, "r") as zio, NWBHDF5IO(shared_data / "hdf5" / "sample.nwb", "r") as hio:
        assert_containers_equal(zio.read(), hio.read())


def test_reading_is_lazy_chunk_by_chunk(shared_data: Path, monkeypatch):
    from nwbzarr.format import legacy_codecs

    decoded: list[str] = []
    original = legacy_codecs.ObjectArray.read_chunk

    async def counting(self, index):
        decoded.append(f"{self.path}:{index}")
        return await original(self, index)

    monkeypatch.setattr(legacy_codecs.ObjectArray, "read_chunk", counting)
    with ZarrIO(shared_data / LEGACY / "anm.nwb.zarr", "r") as io:
        root = io.read_builder()
        assert not [p for p in decoded if "electrodes/group" in p]  # nothing decoded before indexing
        col = root["general/extracellular_ephys/electrodes/group"].data
        assert col[3].name
        assert [p for p in decoded if "electrodes/group" in p] == ["general/extracellular_ephys/electrodes/group:(0,)"]


def test_reference_elements_decode_to_zarr_references(shared_data: Path):
    with ZarrIO(shared_data / LEGACY / "sample.nwb.zarr", "r") as io:
        node = io.nodes["general/extracellular_ephys/electrodes/group"]
        raw = io._run_sync(io.layout.open_array(io.store, node).getitem(slice(0, 2)))
        refs = io.layout.decode_array_values(node, raw)
        assert all(isinstance(r, ZarrReference) for r in refs)
        assert refs[0].path == "/general/extracellular_ephys/shank0"
        assert refs[0].object_id == "e44b7762-ed6b-45b6-bb69-74428918197b"


def test_object_arrays_decode_only_the_chunks_a_selection_touches():
    import asyncio

    from zarr.storage import MemoryStore

    from nwbzarr.format import legacy_codecs

    zarray = {"shape": [10], "chunks": [3], "dtype": "|O", "compressor": None, "order": "C",
              "filters": [numcodecs.JSON().get_config()], "fill_value": 0, "zarr_format": 2,
              "dimension_separator": "/"}
    array = legacy_codecs.ObjectArray(MemoryStore(), "refs", zarray, np.dtype(object), "/refs")
    values = np.empty(10, dtype=object)
    for i in range(10):
        values[i] = {"source": ".", "path": f"/t{i}"}
    asyncio.run(array.setitem(slice(None), values))
    seen = []
    original = array.decode_chunk
    array.decode_chunk = lambda data: seen.append(1) or original(data)
    assert asyncio.run(array.getitem(4))["path"] == "/t4"
    assert len(seen) == 1
    assert [v["path"] for v in asyncio.run(array.getitem(slice(8, 2, -3)))] == ["/t8", "/t5"]
    assert len(seen) == 1 + 2
    assert [v["path"] for v in asyncio.run(array.getitem([9, 0]))] == ["/t9", "/t0"]


def test_vlen_bytes_values_convert_to_hdf5_as_ascii_like_pynwb(shared_data: Path, tmp_path: Path):
    """The 0.13 store's vlen-bytes dates stay bytes on read, so converting it to HDF5 stores them as ASCII
    strings, as pynwb wrote hdf5/sample.nwb (not UTF-8)."""
    import h5py

    from nwbzarr.convert import convert

    convert(shared_data / LEGACY / "sample.nwb.zarr", tmp_path / "sample.nwb")
    with h5py.File(tmp_path / "sample.nwb", "r") as ours, h5py.File(shared_data / "hdf5" / "sample.nwb", "r") as ref:
        for key in ("session_start_time", "timestamps_reference_time", "file_create_date"):
            assert h5py.check_string_dtype(ours[key].dtype) == h5py.check_string_dtype(ref[key].dtype), key
            assert np.array_equal(ours[key][()], ref[key][()]), key
