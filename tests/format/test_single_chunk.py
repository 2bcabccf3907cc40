"""Small numeric arrays in one plain chunk are read straight from their zarr.json: the same values as zarr
reads, only for the documents that path understands, and never a damaged chunk's garbage."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pynwb import NWBFile, TimeSeries
from zarr.codecs import BloscCodec, BytesCodec, TransposeCodec, ZstdCodec

from nwbzarr import NWBZarrIO, ZarrDataIO
from nwbzarr.backend.arrays import ZarrDataset
from nwbzarr.errors import ChunkSizeError
from nwbzarr.format.single_chunk import (
    MAX_BYTES,
    NUMERIC_TYPES,
    decode_single,
    encode_single,
    single_chunk_of,
)


def _stored(tmp_path, values: np.ndarray, **kwargs) -> tuple[dict, bytes | None, zarr.Array]:
    """(zarr.json, the chunk's bytes, zarr's array) of ``values`` written by zarr itself."""
    array = zarr.create_array(str(tmp_path), shape=values.shape, dtype=values.dtype,
                              chunks=kwargs.pop("chunks", values.shape), zarr_format=3,
                              config={"write_empty_chunks": True}, **kwargs)
    array[...] = values
    doc = json.loads((tmp_path / "zarr.json").read_text())
    plan = single_chunk_of(doc)
    raw = (tmp_path / plan.key).read_bytes() if plan is not None else None
    return doc, raw, array


@settings(max_examples=40, deadline=None)
@given(values=hnp.arrays(st.sampled_from(sorted(NUMERIC_TYPES)), hnp.array_shapes(min_dims=0, max_dims=3, max_side=9)),
       compressed=st.booleans())
def test_values_are_zarrs(tmp_path_factory, values, compressed) -> None:
    path = tmp_path_factory.mktemp("a")
    compressors = [BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")] if compressed else None
    doc, raw, array = _stored(path, values, compressors=compressors)
    plan = single_chunk_of(doc)
    assert plan is not None and plan.blosc == compressed
    got = decode_single(plan, raw)
    expected = array[...]
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    got[...] = 0  # the values are the caller's, writable
    np.testing.assert_array_equal(array[...], expected)
    key, stored = encode_single(doc, values)  # writing: the very bytes zarr wrote
    assert key == plan.key and stored == raw
    swapped = values.astype(values.dtype.newbyteorder(">" if values.dtype.byteorder != ">" else "<"))
    assert encode_single(doc, swapped)[1] == raw  # cast to the stored type, as zarr does


@pytest.mark.parametrize("kwargs", [
    {"chunks": (5,)},  # more than one chunk
    {"compressors": [ZstdCodec()]},
    {"serializer": BytesCodec(endian="big")},
    {"filters": [TransposeCodec(order=(0,))]},
    {"shards": (10,), "chunks": (5,)},
    {"chunk_key_encoding": {"name": "v2", "separator": "."}},
])
def test_other_documents_go_through_zarr(tmp_path, kwargs) -> None:
    doc, _, _ = _stored(tmp_path, np.arange(10, dtype="int32"), **kwargs)
    assert single_chunk_of(doc) is None


@pytest.mark.parametrize("change", [
    lambda d: d.update(data_type="string"),
    lambda d: d.update(data_type={"name": "struct", "configuration": {}}),
    lambda d: d.update(zarr_format=2),
    lambda d: d.update(storage_transformers=[{"name": "x"}]),
    lambda d: d.update(shape=[0], chunk_grid={"name": "regular", "configuration": {"chunk_shape": [0]}}),
    lambda d: d.update(shape=[10.0]),
    lambda d: d["codecs"][0].update(configuration={"endian": None}),  # a 4-byte type needs a byte order
    lambda d: d["codecs"].append({"name": "crc32c"}),
])
def test_documents_it_does_not_understand_go_through_zarr(tmp_path, change) -> None:
    doc, _, _ = _stored(tmp_path, np.arange(10, dtype="int32"))
    change(doc)
    assert single_chunk_of(doc) is None


def test_encoding_leaves_to_zarr_what_it_does_not_know(tmp_path) -> None:
    doc, _, _ = _stored(tmp_path, np.arange(10, dtype="int32"), compressors=[BloscCodec()])
    assert encode_single(doc, np.arange(9, dtype="int32")) is None  # not the documented shape
    del doc["codecs"][1]["configuration"]["typesize"]
    assert encode_single(doc, np.arange(10, dtype="int32")) is None  # a setting zarr would choose
    doc["codecs"][1]["configuration"].update(typesize=4, cname="snappy")
    assert encode_single(doc, np.arange(10, dtype="int32")) is None


def test_large_arrays_take_the_chunked_path(tmp_path) -> None:
    doc, _, _ = _stored(tmp_path, np.zeros(MAX_BYTES // 8 + 1, dtype="float64"))
    assert single_chunk_of(doc) is None


def test_a_truncated_or_resized_chunk_is_refused(tmp_path) -> None:
    doc, raw, _ = _stored(tmp_path, np.arange(1000, dtype="int64"), compressors=[BloscCodec()])
    plan = single_chunk_of(doc)
    with pytest.raises(ChunkSizeError, match="truncated"):
        decode_single(plan, raw[:-7])
    doc["shape"] = doc["chunk_grid"]["configuration"]["chunk_shape"] = [500]
    with pytest.raises(ChunkSizeError, match="declares 8000 bytes"):
        decode_single(single_chunk_of(doc), raw)
    raw_doc, raw_bytes, _ = _stored(tmp_path / "raw", np.arange(10, dtype="int16"), compressors=None)
    with pytest.raises(ChunkSizeError):
        decode_single(single_chunk_of(raw_doc), raw_bytes + b"\0")


# --- through NWBZarrIO ----------------------------------------------------------------------------
@pytest.fixture
def small_series(tmp_path):
    nwb = NWBFile(session_description="s", identifier="s", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    values = np.linspace(0, 1, 1000, dtype="float32")
    nwb.add_acquisition(TimeSeries(name="ts", data=ZarrDataIO(values), unit="u", rate=1.0))
    path = tmp_path / "s.nwb.zarr"
    with NWBZarrIO(str(path), mode="w") as io:
        io.write(nwb)
    return path, values


def _refuse_zarrs_path(monkeypatch) -> None:
    original = ZarrDataset._read_raw

    def refuse(self, key):
        if self.name == "/acquisition/ts/data":
            raise AssertionError("read through zarr's array")
        return original(self, key)

    monkeypatch.setattr(ZarrDataset, "_read_raw", refuse)


def test_a_small_array_is_read_without_zarrs_array(small_series, monkeypatch) -> None:
    path, values = small_series
    _refuse_zarrs_path(monkeypatch)
    with NWBZarrIO(str(path), mode="r") as io:
        data = io.read().acquisition["ts"].data
        np.testing.assert_array_equal(data[:], values)
        np.testing.assert_array_equal(data[10:20], values[10:20])


def test_a_missing_chunk_reads_as_the_fill_value(small_series) -> None:
    path, values = small_series
    (path / "acquisition" / "ts" / "data" / "c" / "0").unlink()
    with NWBZarrIO(str(path), mode="r") as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], np.zeros_like(values))


def test_a_damaged_chunk_is_named_not_returned(small_series) -> None:
    path, _ = small_series
    chunk = path / "acquisition" / "ts" / "data" / "c" / "0"
    chunk.write_bytes(chunk.read_bytes()[:-3])
    with NWBZarrIO(str(path), mode="r") as io:
        data = io.read().acquisition["ts"].data
        with pytest.raises(Exception, match="/acquisition/ts/data") as err:
            data[:]
        assert "c/0" in str(err.value)


def test_append_mode_reads_through_zarr(small_series, monkeypatch) -> None:
    """A file open for writing may change under the document this path reads: it is not used there."""
    path, values = small_series
    with NWBZarrIO(str(path), mode="a") as io:
        data = io.read().acquisition["ts"].data
        np.testing.assert_array_equal(data[:], values)
    _refuse_zarrs_path(monkeypatch)
    with NWBZarrIO(str(path), mode="a") as io:
        with pytest.raises(AssertionError, match="through zarr"):
            io.read().acquisition["ts"].data[:]


@settings(max_examples=60, deadline=None)
@given(values=hnp.arrays(st.sampled_from(sorted(NUMERIC_TYPES) + [">f8", ">i4"]),
                         hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=9)),
       big=st.booleans())
def test_an_array_encoded_from_its_spec_is_the_one_encoded_from_its_document(values, big) -> None:
    """Writers encode default-codec arrays from their spec, skipping the document: the same key and bytes,
    and None exactly when the document's path says None (zero-length, too large, a byte order zarr
    refuses)."""
    from nwbzarr.format.base import ArraySpec
    from nwbzarr.format.v3 import CurrentLayout

    if big:  # past MAX_BYTES: neither path encodes it
        values = np.zeros(MAX_BYTES // values.dtype.itemsize + 1, dtype=values.dtype)
    spec = ArraySpec(shape=values.shape, kind="numeric", dtype=values.dtype, chunks=tuple(max(1, n) for n in values.shape))
    layout = CurrentLayout()
    docs = layout.array_documents("a", spec, {})
    assert layout.encode_single_chunk("a", docs, values, spec) == layout.encode_single_chunk("a", docs, values)
