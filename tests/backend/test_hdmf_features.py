"""hdmf-common types, iterative writes, append, links and references across stores, region references."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hdmf.build import DatasetBuilder, GroupBuilder, LinkBuilder, ReferenceBuilder
from hdmf.common import AlignedDynamicTable, CSRMatrix, DynamicTable, SimpleMultiContainer, get_manager
from hdmf.data_utils import DataChunkIterator
from pynwb import TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from _helpers import assert_containers_equal
from nwbzarr import ExternalLinkError, NWBZarrIO, ZarrDataIO, ZarrIO, ZarrReference
from nwbzarr.format.reference import region_to_selection


def test_hdmf_common_types_round_trip(tmp_path):
    table = DynamicTable(name="table", description="t")
    table.add_column("x", "x values")
    table.add_column("ragged", "ragged", index=True)
    table.add_row(x=1.0, ragged=[1, 2])
    table.add_row(x=2.0, ragged=[])
    sub = DynamicTable(name="cat", description="category")
    sub.add_column("v", "v")
    sub.add_row(v=3)
    sub.add_row(v=4)
    aligned = AlignedDynamicTable(name="aligned", description="a", category_tables=[sub], id=[0, 1])
    sparse = CSRMatrix(name="sparse", data=np.array([1.0, 2.0]), indices=np.array([0, 1]),
                       indptr=np.array([0, 1, 2]), shape=(2, 2))
    container = SimpleMultiContainer(name="root", containers=[table, aligned, sparse])
    with ZarrIO(tmp_path / "common.zarr", mode="w", manager=get_manager()) as io:
        io.write(container)
    with ZarrIO(tmp_path / "common.zarr", mode="r", manager=get_manager()) as io:
        back = io.read()
        assert_containers_equal(container, back)
        assert back["sparse"].to_spmat().toarray().tolist() == [[1.0, 0.0], [0.0, 2.0]]


def test_data_chunk_iterator_grows_as_data_arrive(tmp_path):
    def rows():
        for i in range(23):
            yield np.array([i, -i], dtype="int16")

    nwb = mock_NWBFile()
    nwb.add_acquisition(TimeSeries(name="it", unit="m", rate=1.0,
                                   data=ZarrDataIO(DataChunkIterator(rows(), buffer_size=5), chunks=(4, 2))))
    nwb.add_acquisition(TimeSeries(name="it1d", unit="m", rate=1.0,
                                   data=DataChunkIterator(data=iter(np.arange(17.0)), buffer_size=3)))
    path = tmp_path / "dci.nwb.zarr"
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwb)
    with NWBZarrIO(path, mode="r") as io:
        back = io.read()
        data = back.acquisition["it"].data
        assert data.shape == (23, 2) and data.chunks == (4, 2) and data.dtype == np.int16
        assert data[:, 0].tolist() == list(range(23))
        assert back.acquisition["it1d"].data[:].tolist() == list(np.arange(17.0))
    meta = json.loads((path / "zarr.json").read_text())["consolidated_metadata"]["metadata"]
    assert meta["acquisition/it/data"]["shape"] == [23, 2]


def test_append_new_containers_and_rows_keeps_consolidated_metadata(tmp_path):
    path = tmp_path / "append.nwb.zarr"
    nwb = mock_NWBFile()
    nwb.add_trial(start_time=0.0, stop_time=1.0)
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwb)
    with NWBZarrIO(path, mode="a") as io:
        nwb = io.read()
        nwb.add_acquisition(TimeSeries(name="later", data=np.arange(4.0), unit="m", rate=2.0))
        nwb.add_trial(start_time=1.0, stop_time=2.0)
        io.write(nwb)
    for mode in ("r", "r-"):  # consolidated metadata and the node documents agree
        with NWBZarrIO(path, mode=mode) as io:
            back = io.read()
            assert back.acquisition["later"].data[:].tolist() == [0.0, 1.0, 2.0, 3.0]
            assert back.trials["start_time"].data[:].tolist() == [0.0, 1.0]
            assert len(back.trials) == 2


def test_link_data_to_dataset_in_another_store(tmp_path):
    src = tmp_path / "src.nwb.zarr"
    nwb = mock_NWBFile()
    nwb.add_acquisition(TimeSeries(name="ts", data=np.arange(6.0), unit="m", rate=1.0))
    with NWBZarrIO(src, mode="w") as io:
        io.write(nwb)
    src_io = NWBZarrIO(src, mode="r")
    source_data = src_io.read().acquisition["ts"].data
    other = mock_NWBFile()
    other.add_acquisition(TimeSeries(name="linked", data=ZarrDataIO(source_data, link_data=True), unit="m",
                                     rate=1.0))
    dst = tmp_path / "sub" / "dst.nwb.zarr"
    with NWBZarrIO(dst, mode="w") as io:
        io.write(other)
    links = json.loads((dst / "zarr.json").read_text())["consolidated_metadata"]["metadata"][
        "acquisition/linked"]["attributes"]["_LINKS"]
    assert links == [{"name": "data", "source": "../../src.nwb.zarr", "path": "/acquisition/ts/data"}]
    with NWBZarrIO(dst, mode="r") as io, pytest.raises(ExternalLinkError, match="external_links='local'"):
        io.read()  # the target is outside the directory that holds dst (docs/compatibility.md)
    with NWBZarrIO(dst, mode="r", external_links="local") as io:
        assert io.read().acquisition["linked"].data[:].tolist() == list(np.arange(6.0))
    src_io.close()


def test_reference_into_another_store_is_written_as_external(tmp_path):
    other = GroupBuilder("root", source=str(tmp_path / "other.zarr"))
    target = GroupBuilder("target", attributes={"k": 1})
    other.set_group(target)
    with ZarrIO(tmp_path / "other.zarr", mode="w") as io:
        io.write_builder(other, cache_spec=False)
    root = GroupBuilder("root")
    root.set_dataset(DatasetBuilder("refs", data=[ReferenceBuilder(target)], dtype="object"))
    root.set_group(GroupBuilder("g", attributes={"ref": ReferenceBuilder(target)}))
    root.set_link(LinkBuilder(target, name="ext"))
    with ZarrIO(tmp_path / "main.zarr", mode="w") as io:
        io.write_builder(root, cache_spec=False)
    doc = json.loads((tmp_path / "main.zarr" / "zarr.json").read_text())["consolidated_metadata"]["metadata"]
    assert doc["g"]["attributes"]["ref"] == {"_REFERENCE": {"source": "../other.zarr", "path": "/target"}}
    with ZarrIO(tmp_path / "main.zarr", mode="r") as io:
        back = io.read_builder()
        assert back["g"].attributes["ref"].attributes["k"] == 1
        assert back["refs"].data[0].attributes["k"] == 1
        assert back.links["ext"].builder.attributes["k"] == 1


def test_region_references_round_trip_and_stay_object_references(tmp_path):
    root = GroupBuilder("root")
    target = DatasetBuilder("values", data=np.arange(10.0))
    root.set_dataset(target)
    refs = [ZarrReference(".", "/values", region=[[2, 5, 1]]), ZarrReference(".", "/values",
                                                                             region={"indices": [7, 9]})]
    root.set_dataset(DatasetBuilder("regions", data=refs, dtype="region"))
    root.set_group(GroupBuilder("g", attributes={"r": ZarrReference(".", "/values", region=[[0, 3, 1]])}))
    with ZarrIO(tmp_path / "reg.zarr", mode="w") as io:
        io.write_builder(root, cache_spec=False)
    io = ZarrIO(tmp_path / "reg.zarr", mode="r")
    back = io.read_builder()
    assert all(b is back["values"] for b in back["regions"].data[:])  # object-reference view
    raw = back["regions"].data  # raw view keeps regions
    decoded = io.layout.decode_array_values(raw.node, raw._read_raw(...))
    values = back["values"].data[:]
    assert values[region_to_selection(decoded[0].region)].tolist() == [2.0, 3.0, 4.0]
    assert values[region_to_selection(decoded[1].region)].tolist() == [7.0, 9.0]
    meta = json.loads((tmp_path / "reg.zarr" / "zarr.json").read_text())["consolidated_metadata"]["metadata"]
    assert meta["g"]["attributes"]["r"]["_REFERENCE"]["path"] == "/values"


def test_hdf5_region_references_keep_their_regions(shared_data, tmp_path):
    """MatNWB's spike_times_index holds region references: the regions survive the conversion."""
    import h5py
    from hdmf.backends.hdf5 import HDF5IO
    from pynwb import get_manager as nwb_manager

    source = shared_data / "real" / "ecephys_tutorial.nwb"
    with HDF5IO(str(source), "r", manager=nwb_manager()) as src:
        builder = src.read_builder()
        with ZarrIO(tmp_path / "regions.zarr", mode="w") as dst:
            dst.write_builder(builder, cache_spec=False)
    io = ZarrIO(tmp_path / "regions.zarr", mode="r")
    node = io.nodes["units/spike_times_index"]
    array = io.layout.open_array(io.store, node)
    from nwbzarr._private_api import sync

    refs = io.layout.decode_array_values(node, np.asarray(sync(array.getitem(...))))
    with h5py.File(source, "r") as f:
        dset = f["units/spike_times_index"]
        expected = [f[r][r].tolist() for r in dset[()]]
    got_values = io.read_builder()["units"]["spike_times"].data[:]
    assert [got_values[region_to_selection(r.region)].tolist() for r in refs] == expected


@pytest.mark.parametrize("compressors", [None, "gzip"])
def test_zarr_dataio_settings_are_applied(tmp_path, compressors):
    import numcodecs

    codec = numcodecs.GZip(level=3) if compressors == "gzip" else False
    nwb = mock_NWBFile()
    data = np.arange(1000, dtype="int32").reshape(100, 10)
    nwb.add_acquisition(TimeSeries(name="ts", unit="m", rate=1.0,
                                   data=ZarrDataIO(data, chunks=(10, 5), compressor=codec, fillvalue=-1)))
    nwb.add_acquisition(TimeSeries(name="sharded", unit="m", rate=1.0,
                                   data=ZarrDataIO(data, chunks=(10, 5), shards=(50, 10))))
    with NWBZarrIO(tmp_path / "io.nwb.zarr", mode="w") as io:
        io.write(nwb)
    meta = json.loads((tmp_path / "io.nwb.zarr" / "zarr.json").read_text())["consolidated_metadata"]["metadata"]
    ts = meta["acquisition/ts/data"]
    assert ts["chunk_grid"]["configuration"]["chunk_shape"] == [10, 5] and ts["fill_value"] == -1
    names = [c["name"] for c in ts["codecs"]]
    assert names == (["bytes", "gzip"] if compressors else ["bytes"])
    assert meta["acquisition/sharded/data"]["codecs"][0]["name"] == "sharding_indexed"
    inner = meta["acquisition/sharded/data"]["codecs"][0]["configuration"]["codecs"]
    assert [c["name"] for c in inner] == ["bytes", "blosc"]  # chunks only given: the default codec applies
    with NWBZarrIO(tmp_path / "io.nwb.zarr", mode="r") as io:
        back = io.read()
        assert np.array_equal(back.acquisition["ts"].data[:], data)
        assert np.array_equal(back.acquisition["sharded"].data[:], data)


def test_hdf5_filters_map_to_identical_zarr_codecs(tmp_path):
    import h5py

    from nwbzarr import hdf5_to_zarr_filters

    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("gz", data=np.arange(1000, dtype="int16"), chunks=(100,), compression="gzip",
                         shuffle=True)
        f.create_dataset("lzf", data=np.arange(1000, dtype="int16"), chunks=(100,), compression="lzf")
    with h5py.File(path, "r") as f:
        compressors, filters = hdf5_to_zarr_filters(f["gz"])
        assert [c.codec_id for c in filters] == ["shuffle"] and [c.codec_id for c in compressors] == ["gzip"]
        compressors, _ = hdf5_to_zarr_filters(f["lzf"])
        assert [c.codec_id for c in compressors] == ["imagecodecs_lzf"]
