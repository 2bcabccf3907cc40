"""hdmf-zarr 0.14's public arguments (and hdmf-zarr <= 0.13's codec habits) on nwbzarr's ZarrIO / NWBZarrIO.

Expected values come from what hdmf-zarr 0.14 does with the same call (its source: hdmf_zarr/utils.py,
backend.py, nwb.py) or from NWBHDF5IO; test_hdmf_zarr_api_interop.py runs the calls that need a direct
comparison in hdmf-zarr 0.14 itself.
"""

from __future__ import annotations

import json
import os
import warnings
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numcodecs
import numcodecs.abc
import numpy as np
import pytest
import zarr
from hdmf.build import GroupBuilder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from zarr.abc.codec import ArrayArrayCodec, BytesBytesCodec
from zarr.storage import MemoryStore

from nwbzarr import NWBZarrIO, ZarrDataIO, ZarrIO, hdf5_to_zarr_filters
from nwbzarr.format.base import FormatError

LAYOUTS = [3, 2]


def _nwbfile() -> NWBFile:
    return NWBFile(session_description="api", identifier="api-1",
                   session_start_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))


def _write_series(path: Path, data, zarr_format: int = 3, **io_kwargs) -> None:
    nwb = _nwbfile()
    nwb.add_acquisition(TimeSeries(name="ts", data=data, unit="u", rate=1.0))
    with NWBZarrIO(path, "w", zarr_format=zarr_format, **io_kwargs) as io:
        io.write(nwb)


def _read_series(path: Path) -> np.ndarray:
    with NWBZarrIO(path, "r") as io:
        return np.asarray(io.read().acquisition["ts"].data[:])


def _array_doc(path: Path, array: str = "acquisition/ts/data") -> dict:
    """The stored metadata document of an array (zarr.json, or .zarray for the legacy layout)."""
    v3 = path / array / "zarr.json"
    return json.loads(v3.read_text()) if v3.exists() else json.loads((path / array / ".zarray").read_text())


def _codec_names(doc: dict) -> list[str]:
    return [c["name"] for c in doc["codecs"]]


# --- ZarrDataIO(compressors=True), shards="auto" ----------------------------------------------------
@pytest.mark.parametrize("zarr_format", LAYOUTS)
def test_compressors_true_stores_the_default_codec(tmp_path, zarr_format):
    """hdmf-zarr 0.14: ``compressors=True`` means "use the default", i.e. the same as leaving it out."""
    data = np.arange(1000, dtype="int32")
    _write_series(tmp_path / "true.zarr", ZarrDataIO(data, compressors=True), zarr_format)
    _write_series(tmp_path / "none.zarr", ZarrDataIO(data), zarr_format)
    assert _array_doc(tmp_path / "true.zarr") == _array_doc(tmp_path / "none.zarr")
    np.testing.assert_array_equal(_read_series(tmp_path / "true.zarr"), data)


def test_compressors_false_stores_uncompressed(tmp_path):
    data = np.arange(1000, dtype="int32")
    _write_series(tmp_path / "raw.zarr", ZarrDataIO(data, compressors=False))
    assert _codec_names(_array_doc(tmp_path / "raw.zarr")) == ["bytes"]


def _zarr_auto_shards(shape, chunks, dtype) -> tuple[int, ...]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return zarr.create_array(MemoryStore(), shape=shape, chunks=chunks, dtype=dtype, shards="auto").shards


@pytest.mark.parametrize(("shape", "chunks", "dtype"), [
    ((20000, 4), (1000, 4), "float32"),
    ((100,), (10,), "int16"),
    ((50, 30), (5, 30), "float64"),
])
def test_shards_auto_stores_the_shard_shape_zarr_chooses(tmp_path, shape, chunks, dtype):
    data = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _write_series(tmp_path / "auto.zarr", ZarrDataIO(data, chunks=chunks, shards="auto"))
    doc = _array_doc(tmp_path / "auto.zarr")
    assert doc["codecs"][0]["name"] == "sharding_indexed"
    assert tuple(doc["chunk_grid"]["configuration"]["chunk_shape"]) == _zarr_auto_shards(shape, chunks, dtype)
    assert tuple(doc["codecs"][0]["configuration"]["chunk_shape"]) == chunks
    np.testing.assert_array_equal(_read_series(tmp_path / "auto.zarr"), data)


@settings(max_examples=60, deadline=None)
@given(dims=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 400)), min_size=1, max_size=3),
       dtype=st.sampled_from(["int8", "int16", "float32", "float64"]))
def test_auto_shard_shape_is_zarrs_for_any_shape(dims, dtype):
    from nwbzarr.backend.planning import resolve_shards

    chunks = tuple(c for c, _ in dims)
    shape = tuple(c * n for c, n in dims)
    assert resolve_shards("auto", shape, chunks, np.dtype(dtype)) == _zarr_auto_shards(shape, chunks, dtype)


def test_shards_reject_what_hdmf_zarr_rejects():
    data = np.arange(100)
    with pytest.raises(ValueError, match="shape or 'auto'"):
        ZarrDataIO(data, chunks=(10,), shards="big")
    with pytest.raises(ValueError, match=r"shards\[0\]=25 must be a multiple of chunks\[0\]=10"):
        ZarrDataIO(data, chunks=(10,), shards=(25,))
    with pytest.raises(ValueError, match="same number of dimensions"):
        ZarrDataIO(data, chunks=(10,), shards=(20, 2))


# --- hdf5_to_zarr_filters ----------------------------------------------------------------------------
@pytest.fixture
def filtered_h5(tmp_path) -> Path:
    path = tmp_path / "filters.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("gzip_shuffle", data=np.arange(5000, dtype="<i4"), chunks=(500,), compression="gzip",
                         compression_opts=6, shuffle=True)
        f.create_dataset("plain", data=np.arange(100, dtype="<f8"), chunks=(50,))
    return path


def test_hdf5_to_zarr_filters_gives_hdmf_zarrs_one_list_of_zarr3_codecs(filtered_h5, tmp_path):
    """hdmf-zarr 0.14 returns one list of zarr 3 codecs, which callers split by codec kind."""
    with h5py.File(filtered_h5, "r") as f:
        codecs = ZarrDataIO.hdf5_to_zarr_filters(f["gzip_shuffle"])
        assert isinstance(codecs, list) and len(codecs) == 2
        assert all(isinstance(c, BytesBytesCodec) for c in codecs)
        assert [c.to_dict()["name"] for c in codecs] == ["numcodecs.shuffle", "gzip"]
        assert codecs[1].to_dict()["configuration"] == {"level": 6}
        assert ZarrDataIO.hdf5_to_zarr_filters(f["plain"]) == []
        # the module-level function keeps nwbzarr's (compressors, filters) of numcodecs codecs
        compressors, filters = hdf5_to_zarr_filters(f["gzip_shuffle"])
        assert compressors == [numcodecs.GZip(level=6)] and filters == [numcodecs.Shuffle(elementsize=4)]
        # hdmf-zarr's documented use: split by kind and pass back to ZarrDataIO
        wrapped = ZarrDataIO(f["gzip_shuffle"][:], chunks=(500,),
                             compressors=[c for c in codecs if isinstance(c, BytesBytesCodec)],
                             filters=[c for c in codecs if isinstance(c, ArrayArrayCodec)] or None)
        _write_series(tmp_path / "h5.zarr", wrapped)
    assert _codec_names(_array_doc(tmp_path / "h5.zarr")) == ["bytes", "numcodecs.shuffle", "gzip"]
    np.testing.assert_array_equal(_read_series(tmp_path / "h5.zarr"), np.arange(5000, dtype="<i4"))


# --- codecs given the hdmf-zarr <= 0.13 way ------------------------------------------------------
_V3_BLOSC_SHUFFLE = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}


def _expected_v3(codec) -> dict:
    """The zarr 3 codec JSON a numcodecs compressor becomes (zarr's own blosc/zstd/gzip, else numcodecs.*)."""
    config = codec.get_config()
    codec_id = config.pop("id")
    if codec_id == "blosc":
        return {"name": "blosc", "configuration": {"typesize": 4, "cname": config["cname"], "clevel": config["clevel"],
                                                   "shuffle": _V3_BLOSC_SHUFFLE[config["shuffle"]],
                                                   "blocksize": config["blocksize"]}}
    if codec_id == "zstd":
        return {"name": "zstd", "configuration": {"level": config["level"], "checksum": False}}
    if codec_id == "gzip":
        return {"name": "gzip", "configuration": {"level": config["level"]}}
    return {"name": f"numcodecs.{codec_id}", "configuration": config}


_COMPRESSORS = st.one_of(
    st.builds(numcodecs.Blosc, cname=st.sampled_from(["lz4", "lz4hc", "zstd", "zlib", "blosclz"]),
              clevel=st.integers(0, 9), shuffle=st.sampled_from([0, 1, 2])),
    st.builds(numcodecs.Zstd, level=st.integers(1, 9)),
    st.builds(numcodecs.GZip, level=st.integers(1, 9)),
    st.builds(numcodecs.LZ4, acceleration=st.integers(1, 5)),
    st.builds(numcodecs.Zlib, level=st.integers(1, 9)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(codec=_COMPRESSORS, zarr_format=st.sampled_from(LAYOUTS))
def test_old_compressor_argument_stores_the_codec_given(tmp_path_factory, codec, zarr_format):
    """``ZarrDataIO(compressor=numcodecs.X(...))`` (hdmf-zarr <= 0.13) stores X with its settings."""
    path = tmp_path_factory.mktemp("codec") / "c.zarr"
    data = np.arange(2000, dtype="<i4") % 97
    _write_series(path, ZarrDataIO(data, compressor=codec), zarr_format)
    doc = _array_doc(path)
    if zarr_format == 2:
        assert doc["compressor"] == codec.get_config() and doc["filters"] is None
    else:
        assert doc["codecs"][1:] == [_expected_v3(codec)]
    np.testing.assert_array_equal(_read_series(path), data)


def test_compressor_and_compressors_together_are_refused():
    with pytest.raises(ValueError, match="either compressor= or compressors="):
        ZarrDataIO(np.arange(3), compressor=numcodecs.Zstd(), compressors=numcodecs.GZip())


@pytest.mark.parametrize("zarr_format", LAYOUTS)
@pytest.mark.parametrize("make_filter", [
    lambda: numcodecs.Delta(dtype="<i4"),
    lambda: numcodecs.FixedScaleOffset(offset=1000, scale=10, dtype="<f8", astype="<i4"),
])
def test_numcodecs_array_filters_are_applied(tmp_path, zarr_format, make_filter):
    """numcodecs filters go through zarr.codecs.numcodecs in zarr 3 (before serialising), as v2 filters in
    the legacy layout; the decoded values are what the filter itself gives back."""
    flt = make_filter()
    data = np.arange(1000, dtype=flt.get_config()["dtype"]) * 3 + 1000
    path = tmp_path / "f.zarr"
    _write_series(path, ZarrDataIO(data, filters=[flt], compressors=numcodecs.Zstd(level=3)), zarr_format)
    doc = _array_doc(path)
    if zarr_format == 2:
        assert doc["filters"] == [flt.get_config()] and doc["compressor"] == numcodecs.Zstd(level=3).get_config()
    else:
        config = flt.get_config()
        name = "numcodecs." + config.pop("id")
        assert doc["codecs"][0] == {"name": name, "configuration": config}
        assert _codec_names(doc)[1:] == ["bytes", "zstd"]
    np.testing.assert_array_equal(_read_series(path), flt.decode(flt.encode(data)))


def test_byte_filter_keeps_the_default_compressor(tmp_path):
    data = np.arange(1000, dtype="<i4")
    _write_series(tmp_path / "s.zarr", ZarrDataIO(data, filters=[numcodecs.Shuffle(elementsize=4)]))
    _write_series(tmp_path / "d.zarr", ZarrDataIO(data))
    assert _codec_names(_array_doc(tmp_path / "s.zarr")) == ["bytes", "numcodecs.shuffle", "blosc"]
    assert _array_doc(tmp_path / "s.zarr")["codecs"][2] == _array_doc(tmp_path / "d.zarr")["codecs"][1]
    np.testing.assert_array_equal(_read_series(tmp_path / "s.zarr"), data)


class _ArrayToBytes(numcodecs.abc.Codec):
    """Stands in for numcodecs' ZFPY (zfpy is not installed here): zarr 3 wraps "zfpy" as a serializer."""

    codec_id = "zfpy"

    def encode(self, buf):
        return buf

    def decode(self, buf, out=None):
        return buf


def test_serializer_codec_given_as_filter_says_how_to_spell_it(tmp_path):
    with pytest.raises(ValueError, match=r"serializer=zarr\.codecs\.numcodecs\.ZFPY\(\.\.\.\)"):
        _write_series(tmp_path / "p.zarr", ZarrDataIO(np.arange(10.0), filters=[_ArrayToBytes()]))


# --- export(consolidate_metadata=...), force_overwrite, is_remote ----------------------------------
@pytest.fixture
def small_store(tmp_path) -> Path:
    path = tmp_path / "src.nwb.zarr"
    _write_series(path, np.arange(10.0))
    return path


def _has_consolidated(path: Path) -> bool:
    return json.loads((path / "zarr.json").read_text()).get("consolidated_metadata") is not None


@pytest.mark.parametrize("consolidate", [True, False])
def test_export_takes_consolidate_metadata(small_store, tmp_path, consolidate):
    """hdmf-zarr 0.14's ``export(..., consolidate_metadata=)``: False leaves the root without consolidated
    metadata when the export returns; nwbzarr then consolidates on close so the store is never stale."""
    out = tmp_path / "out.nwb.zarr"
    with NWBZarrIO(small_store, "r") as src, NWBZarrIO(out, "w") as dst:
        dst.export(src_io=src, write_args={"link_data": False}, consolidate_metadata=consolidate, number_of_jobs=1)
        assert _has_consolidated(out) is consolidate
    assert _has_consolidated(out)
    np.testing.assert_array_equal(_read_series(out), np.arange(10.0))


def test_force_overwrite_replaces_an_hdf5_file(tmp_path):
    path = tmp_path / "session.nwb"
    with NWBHDF5IO(path, "w") as io:
        io.write(_nwbfile())
    with pytest.raises(FormatError, match="HDF5 file"):
        _write_series(path, np.arange(4.0))
    assert h5py.is_hdf5(path)
    _write_series(path, np.arange(4.0), force_overwrite=True)
    assert path.is_dir() and ZarrIO.can_read(str(path))
    np.testing.assert_array_equal(_read_series(path), np.arange(4.0))


def test_force_overwrite_replaces_a_plain_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not zarr")
    with pytest.raises((FileExistsError, FormatError, OSError, ValueError)):
        _write_series(path, np.arange(4.0))
    assert path.read_text() == "not zarr"
    _write_series(path, np.arange(4.0), force_overwrite=True)
    np.testing.assert_array_equal(_read_series(path), np.arange(4.0))


def test_is_remote_is_false_for_local_and_memory_stores(small_store):
    with NWBZarrIO(small_store, "r") as io:
        assert io.is_remote() is False
    with ZarrIO(MemoryStore(), "w") as io:
        assert io.is_remote() is False
    with NWBZarrIO(small_store, "w") as io:
        io.write(_nwbfile())
    assert io.is_remote() is False
    assert (small_store / "zarr.json").exists()  # asking a closed mode-"w" IO did not reopen (and clear) it


# --- S3: read_nwb anonymously, is_remote ------------------------------------------------------------
@pytest.fixture(scope="module")
def public_bucket(s3_server) -> dict:
    """A public-read bucket on the shared moto server, and the credentials that write to it."""
    boto3 = pytest.importorskip("boto3")
    endpoint = s3_server["endpoint_url"]
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="public", ACL="public-read")
    return {"endpoint": endpoint,
            "writer": {"key": "testing", "secret": "testing", "s3_additional_kwargs": {"ACL": "public-read"},
                       "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}}


def test_read_nwb_reads_s3_anonymously_by_default(public_bucket, no_aws_credentials):
    url = "s3://public/anon.nwb.zarr"
    _write_series(url, np.arange(6, dtype="int16"), storage_options=public_bucket["writer"])
    with pytest.raises(Exception, match="credentials"):  # a signed request has no credentials to sign with
        with NWBZarrIO(url, "r") as io:
            io.read()
    nwb = NWBZarrIO.read_nwb(url)
    np.testing.assert_array_equal(nwb.acquisition["ts"].data[:], np.arange(6, dtype="int16"))
    from nwbzarr import read_nwb

    np.testing.assert_array_equal(read_nwb(url).acquisition["ts"].data[:], np.arange(6, dtype="int16"))


def test_is_remote_is_true_on_s3(public_bucket):
    url = "s3://public/remote.nwb.zarr"
    _write_series(url, np.arange(3.0), storage_options=public_bucket["writer"])
    with NWBZarrIO(url, "r", storage_options=public_bucket["writer"]) as io:
        assert io.is_remote() is True
    assert io.is_remote() is True  # after close too, from the URL (a closed IO is never reopened for it)


# --- attributes and appends -------------------------------------------------------------------------
@pytest.mark.parametrize("zarr_format", LAYOUTS)
def test_set_attribute_is_stored_as_a_list(tmp_path, zarr_format):
    """hdmf-zarr writes a set as ``tuple(value)`` (its iteration order), so it reads back as a list."""
    value = {30, 1, 2}
    path = tmp_path / "s.zarr"
    with ZarrIO(path, "w", zarr_format=zarr_format) as io:
        io.write_builder(GroupBuilder("root", attributes={"ids": value, "names": frozenset({"a"})}))
    with ZarrIO(path, "r") as io:
        attrs = io.read_builder().attributes
    assert list(attrs["ids"]) == list(value) and list(attrs["names"]) == ["a"]


def _electrodes_file() -> NWBFile:
    nwb = _nwbfile()
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank0", description="s", location="CA1", device=device)
    for _ in range(2):
        nwb.add_electrode(group=group, location="CA1")
    return nwb


def _append_new_group(io) -> None:
    nwb = io.read()
    shank1 = nwb.create_electrode_group("shank1", description="new", location="CA3", device=nwb.devices["probe"])
    nwb.add_electrode(group=shank1, location="CA3")
    io.write(nwb)


def _electrodes_seen(io) -> tuple[list, list, str]:
    nwb = io.read()
    table = nwb.electrodes
    return [g.name for g in table["group"][:]], list(table["location"][:]), nwb.electrode_groups["shank1"].location


@pytest.mark.parametrize("zarr_format", LAYOUTS)
def test_append_a_new_container_to_a_reference_column_in_mode_a(tmp_path, zarr_format):
    """A new electrode in a new electrode group, added in mode "a": the group is written and the row's
    reference resolves to it, as with hdmf-zarr 0.14 (which builds the new container first; the interop test
    runs the same steps there).  NWBHDF5IO refuses this append ("has not yet been built")."""
    expected = (["shank0", "shank0", "shank1"], ["CA1", "CA1", "CA3"], "CA3")
    path = tmp_path / "e.nwb.zarr"
    with NWBZarrIO(path, "w", zarr_format=zarr_format) as io:
        io.write(_electrodes_file())
    with NWBZarrIO(path, "a") as io:
        _append_new_group(io)
    with NWBZarrIO(path, "r") as io:
        assert _electrodes_seen(io) == expected
    assert os.path.isdir(path / "general/extracellular_ephys/shank1")


# --- small helpers hdmf-zarr 0.14 has on ZarrIO / ZarrDataIO ---------------------------------------
def test_abspath_and_builder_disk_path(small_store, tmp_path):
    with NWBZarrIO(small_store, "r") as io:
        root = io.read_builder()
        data = root["acquisition/ts"].datasets["data"]
        assert io.abspath == str(small_store)
        assert io.get_builder_disk_path(data) == str(small_store / "acquisition/ts/data")
        assert io.get_builder_disk_path(data, filepath="/else") == "/else/acquisition/ts/data"
        assert io.get_builder_exists_on_disk(data) is True
        assert io.get_builder_exists_on_disk(GroupBuilder("nowhere", parent=root)) is False


def test_is_h5py_dataset(filtered_h5):
    with h5py.File(filtered_h5, "r") as f:
        assert ZarrDataIO.is_h5py_dataset(f["plain"]) is True
        assert ZarrDataIO.is_h5py_dataset(f["plain"][:]) is False


def test_io_settings_has_hdmf_zarrs_shape():
    """hdmf-zarr 0.14: only what was given; fill_value; compressors=False shows as None; True as absent."""
    flt = numcodecs.Delta(dtype="<i4")
    dio = ZarrDataIO(np.arange(10), chunks=(5,), fillvalue=0, compressors=False, filters=(flt,), shards=(10,))
    assert dio.io_settings == {"chunks": (5,), "fill_value": 0, "compressors": None, "filters": [flt], "shards": (10,)}
    assert ZarrDataIO(np.arange(10), compressors=True).io_settings == {}
    params = dio.get_io_params()  # keys of ZarrDataIO's own arguments, so that hdmf can re-wrap the data
    assert ZarrDataIO(np.arange(10), **params).get_io_params() == params


def test_shards_in_the_legacy_layout_warn_and_write_chunks(tmp_path):
    from nwbzarr.format.legacy import LegacyWarning

    data = np.arange(100, dtype="int16")
    with pytest.warns(LegacyWarning, match=r"shards \(20,\) ignored: Zarr format 2"):
        _write_series(tmp_path / "v2.zarr", ZarrDataIO(data, chunks=(10,), shards=(20,)), zarr_format=2)
    assert _array_doc(tmp_path / "v2.zarr")["chunks"] == [10]
    np.testing.assert_array_equal(_read_series(tmp_path / "v2.zarr"), data)
