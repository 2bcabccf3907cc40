"""The current layout (``nwbzarr.format.v3``) on its own: documents out, nodes and values back, on a real
store; what it writes is compared with hdmf-zarr 0.14's stores and read back with zarr-python itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from zarr.core.sync import sync
from zarr.storage import LocalStore, MemoryStore

from nwbzarr.format.attributes import HIDDEN_ATTRS, RESERVED_ATTRS
from nwbzarr.format.base import ArraySpec
from nwbzarr.format.io import write_documents
from nwbzarr.format.reference import ZarrReference
from nwbzarr.format.v3 import CurrentLayout, V3Node, meta_key

LAYOUT = CurrentLayout()
NUMERIC = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
           "float64"]
# Text ending in NUL reads back without it where numpy's fixed-width strings are involved (a compound's
# fixed_length_utf32 fields are NUL-padded; zarr-python 3.1 stores a 0-d text chunk through one): none drawn.
NO_NUL = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))  # text UTF-8 can encode
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _store(tmp_path: Path, name: str = "s.zarr") -> LocalStore:
    return LocalStore(tmp_path / name)


def _write_group(store, path: str, attrs: dict, links=()) -> dict[str, dict]:
    docs = LAYOUT.group_documents(path, LAYOUT.encode_attributes(attrs, list(links)))
    sync(write_documents(store, docs))
    return docs


def _write_array(store, path: str, spec: ArraySpec, values, attrs: dict | None = None) -> dict[str, dict]:
    docs = LAYOUT.array_documents(path, spec, LAYOUT.encode_attributes(attrs or {}, []))
    sync(write_documents(store, {**LAYOUT.group_documents("", {}), **docs}))
    sync(LAYOUT.open_array_for_write(store, path, docs).setitem(..., LAYOUT.encode_array_values(spec, values)))
    return docs


def _read(store, node: V3Node) -> np.ndarray:
    return LAYOUT.decode_array_values(node, np.asarray(sync(LAYOUT.open_array(store, node).getitem(...))))


def _nodes(store, consolidated: bool = False) -> dict[str, V3Node]:
    return sync(LAYOUT.load_nodes(store, use_consolidated=consolidated))


def _unique_store(tmp_path: Path) -> LocalStore:
    return _store(tmp_path, f"s{np.random.default_rng().integers(1 << 62)}.zarr")


# --- groups, attributes, links ---------------------------------------------------------------------
def test_group_documents_attributes_and_links_round_trip(tmp_path: Path):
    store = _store(tmp_path)
    table = ZarrReference(".", "/intervals/trials")
    links = [("timestamps", ZarrReference(".", "/acquisition/ts/timestamps")),
             ("data", ZarrReference("../sample.nwb.zarr", "/acquisition/ts/data"))]
    docs = _write_group(store, "", {"nwb_version": "2.11.0", "table": table, "n": np.int32(3)}, links)
    assert set(docs) == {"zarr.json"}
    doc = json.loads((tmp_path / "s.zarr" / "zarr.json").read_text())
    assert doc["zarr_format"] == 3 and doc["node_type"] == "group"
    assert doc["attributes"]["table"] == {"_REFERENCE": {"source": ".", "path": "/intervals/trials"}}
    assert doc["attributes"]["_LINKS"][1] == {"name": "data", "source": "../sample.nwb.zarr",
                                              "path": "/acquisition/ts/data"}
    root = _nodes(store)[""]
    assert isinstance(root, V3Node) and root.kind == "group" and root.name == ""
    assert root.attrs == {"nwb_version": "2.11.0", "table": table, "n": 3}
    assert [(n, r.source, r.path) for n, r in root.links] == [(n, r.source, r.path) for n, r in links]
    assert LAYOUT.documents_of(root) == {"zarr.json": doc}


def test_links_and_attribute_references_are_spelled_as_hdmf_zarr_014_spells_them(shared_data: Path, tmp_path):
    """The same link and reference written by nwbzarr's layout equal the documents of hdmf-zarr 0.14's store."""
    reference = json.loads((shared_data / "hdmf_zarr_0.14/sample.nwb.zarr/zarr.json").read_text())
    metadata = reference["consolidated_metadata"]["metadata"]
    ts_linked = metadata["acquisition/ts_linked"]["attributes"]["_LINKS"]
    table = metadata["acquisition/es/electrodes"]["attributes"]["table"]
    encoded = LAYOUT.encode_attributes({"table": ZarrReference.from_json(table["_REFERENCE"])},
                                       [(e["name"], ZarrReference.from_json(e)) for e in ts_linked])
    assert encoded["table"] == table
    assert [dict(sorted(e.items())) for e in encoded["_LINKS"]] == [dict(sorted(e.items())) for e in ts_linked]


def test_nodes_of_hdmf_zarr_014_store_decode(shared_data: Path):
    store = LocalStore(shared_data / "hdmf_zarr_0.14/sample.nwb.zarr", read_only=True)
    nodes = _nodes(store, consolidated=True)
    assert nodes.keys() == _nodes(store, consolidated=False).keys()  # consolidated metadata = the walk
    linked = nodes["acquisition/ts_linked"]
    assert [(n, r.path) for n, r in linked.links] == [("timestamps", "/acquisition/ts/timestamps")]
    electrodes = nodes["acquisition/es/electrodes"]
    assert electrodes.hdmf_dtype == "int64" and "_DTYPE" not in electrodes.attrs
    assert electrodes.attrs["table"] == ZarrReference(".", "/general/extracellular_ephys/electrodes")
    epochs = nodes["intervals/epochs/timeseries"]
    assert epochs.is_compound and epochs.ref_fields == ("timeseries",) and epochs.text_type is None
    rows = _read(store, epochs)
    assert all(isinstance(r, ZarrReference) for r in rows["timeseries"])
    label = nodes["intervals/trials/label"]
    assert label.stored_as_text and label.text_type is str and not label.is_fixed_length_bytes


# --- reserved attributes ---------------------------------------------------------------------------
@SETTINGS
@given(hidden=st.sets(st.sampled_from(sorted(HIDDEN_ATTRS)), min_size=1),
       user=st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k not in HIDDEN_ATTRS),
                            st.integers(-5, 5), max_size=3))
def test_reserved_attributes_are_hidden_on_read(tmp_path: Path, hidden, user):
    store = _unique_store(tmp_path)
    attrs = {**user, **{name: [] if name == "_LINKS" else "x" for name in hidden}}
    sync(write_documents(store, {"zarr.json": {"zarr_format": 3, "node_type": "group", "attributes": attrs}}))
    assert _nodes(store)[""].attrs == user


def test_reserved_attribute_set_holds_both_layouts_names():
    assert {"_DTYPE", "_LINKS", "_REFERENCE_FIELDS", "zarr_dtype", "zarr_link", ".specloc"} == RESERVED_ATTRS
    assert {"_ARRAY_DIMENSIONS", "_HDF5_ATTR_TYPES"} == HIDDEN_ATTRS - RESERVED_ATTRS


# --- numeric arrays: the dtype mapping -------------------------------------------------------------
@SETTINGS
@given(data=st.data(), name=st.sampled_from(NUMERIC),
       shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
def test_numeric_arrays_round_trip_with_the_dtype_label(tmp_path: Path, data, name, shape):
    dtype = np.dtype(name)
    values = data.draw(hnp.arrays(dtype, shape))
    store = _unique_store(tmp_path)
    chunks = tuple(max(1, s // 2) for s in shape)
    docs = _write_array(store, "a", ArraySpec(shape=shape, kind="numeric", dtype=dtype, chunks=chunks), values)
    doc = docs[meta_key("a")]
    assert doc["data_type"] == name and doc["attributes"]["_DTYPE"] == name  # as hdmf-zarr 0.14 labels it
    assert doc["shape"] == list(shape)
    node = _nodes(store)["a"]
    assert node.hdmf_dtype == name and node.shape == shape and not node.is_compound and node.text_type is None
    np.testing.assert_array_equal(_read(store, node), values)
    np.testing.assert_array_equal(zarr.open_array(store, path="a", mode="r")[...], values)  # zarr agrees


def test_fill_value_and_dimension_names(tmp_path: Path):
    store = _store(tmp_path)
    spec = ArraySpec(shape=(4,), kind="numeric", dtype=np.dtype("f8"), fill_value=float("nan"),
                     dimension_names=["time"])
    doc = LAYOUT.array_documents("a", spec, {})[meta_key("a")]
    assert doc["fill_value"] == "NaN" and doc["dimension_names"] == ["time"]
    sync(write_documents(store, {"a/zarr.json": doc}))
    assert np.isnan(zarr.open_array(store, path="a", mode="r")[...]).all()  # no chunk: the fill value


# --- text --------------------------------------------------------------------------------------------
@SETTINGS
@given(values=st.lists(st.text(NO_NUL, max_size=12), min_size=1, max_size=6),
       scalar=st.booleans())
def test_text_arrays_are_zarr_strings_labelled_str(tmp_path: Path, values, scalar):
    store = _unique_store(tmp_path)
    data = values[0] if scalar else values
    shape = () if scalar else (len(values),)
    docs = _write_array(store, "t", ArraySpec(shape=shape, kind="string"), data)
    doc = docs[meta_key("t")]
    assert doc["data_type"] == "string" and doc["attributes"]["_DTYPE"] == "str"
    node = _nodes(store)["t"]
    assert node.text_type is str
    got = _read(store, node)
    assert got.dtype == object and got.tolist() == data
    assert np.asarray(zarr.open_array(store, path="t", mode="r")[...]).tolist() == data


def test_text_accepts_bytes_and_dates_and_labels_are_kept(tmp_path: Path):
    import datetime

    store = _store(tmp_path)
    when = datetime.datetime(2024, 1, 2, 3, 4, 5)
    _write_array(store, "t", ArraySpec(shape=(2,), kind="string", hdmf_dtype="isodatetime"), [b"ab", when])
    node = _nodes(store)["t"]
    assert node.hdmf_dtype == "isodatetime" and node.text_type is str
    assert _read(store, node).tolist() == ["ab", when.isoformat()]


# --- references ----------------------------------------------------------------------------------------
def test_reference_elements_are_paths_or_json_text(tmp_path: Path):
    store = _store(tmp_path)
    refs = [ZarrReference(".", "/general/devices/probe"), ZarrReference("../other.nwb.zarr", "/x"),
            ZarrReference(".", "/data", region=[[0, 10, 1]]), ZarrReference(".", "/data", region={"indices": [1, 3]})]
    docs = _write_array(store, "r", ArraySpec(shape=(4,), kind="reference"), refs)
    assert docs[meta_key("r")]["attributes"]["_DTYPE"] == "object_reference"
    raw = np.asarray(zarr.open_array(store, path="r", mode="r")[...]).tolist()
    assert raw[0] == "/general/devices/probe"  # what hdmf-zarr 0.14 writes for a local reference
    assert json.loads(raw[1]) == {"source": "../other.nwb.zarr", "path": "/x"}
    assert json.loads(raw[2]) == {"source": ".", "path": "/data", "region": [[0, 10, 1]]}
    node = _nodes(store)["r"]
    assert node.is_reference and node.text_type is None
    got = _read(store, node).tolist()
    assert [(r.source, r.path, r.region) for r in got] == [(r.source, r.path, r.region) for r in refs]


def test_scalar_reference_and_reference_attribute_spellings(tmp_path: Path):
    store = _store(tmp_path)
    target = ZarrReference(".", "/a/b")
    _write_array(store, "r", ArraySpec(shape=(), kind="reference"), target,
                 attrs={"target": target, "region": ZarrReference(".", "/a", region=[[1, 2, 1]])})
    node = _nodes(store)["r"]
    assert _read(store, node)[()] == target
    assert node.attrs["target"] == target and node.attrs["region"].region == [[1, 2, 1]]
    sync(write_documents(store, {"g/zarr.json": {"zarr_format": 3, "node_type": "group", "attributes": {
        "old": {"zarr_dtype": "object", "value": {"source": ".", "path": "/a/b"}}}}}))
    assert _nodes(store)["g"].attrs["old"] == target  # the legacy spelling is read too


# --- compounds -------------------------------------------------------------------------------------------
@SETTINGS
@given(rows=st.lists(st.tuples(st.integers(-2**31, 2**31 - 1), st.text(NO_NUL, max_size=20), st.booleans()),
                     min_size=1, max_size=5))
def test_compound_arrays_are_struct_with_reference_fields_listed(tmp_path: Path, rows):
    store = _unique_store(tmp_path)
    dtype = np.dtype([("idx", "<i4"), ("label", "<U512"), ("ts", "<U512"), ("ok", "?")])
    values = [(i, text, ZarrReference(".", f"/ts{n}"), ok) for n, (i, text, ok) in enumerate(rows)]
    spec = ArraySpec(shape=(len(rows),), kind="compound", dtype=dtype, ref_fields=("ts",))
    doc = _write_array(store, "c", spec, values)[meta_key("c")]
    fields = doc["data_type"]["configuration"]["fields"]
    assert doc["data_type"]["name"] == "struct" and [f["name"] for f in fields] == ["idx", "label", "ts", "ok"]
    assert fields[1]["data_type"] == {"name": "fixed_length_utf32", "configuration": {"length_bytes": 2048}}
    assert doc["attributes"] == {"_REFERENCE_FIELDS": ["ts"]}  # no _DTYPE on a compound
    node = _nodes(store)["c"]
    assert node.is_compound and node.ref_fields == ("ts",) and node.hdmf_dtype is None
    got = _read(store, node)
    assert got["idx"].tolist() == [r[0] for r in rows] and got["label"].tolist() == [r[1] for r in rows]
    assert got["ts"].tolist() == [v[2] for v in values] and got["ok"].tolist() == [r[2] for r in rows]


# --- consolidated metadata and resizing --------------------------------------------------------------------
def test_consolidated_documents_match_the_walk(tmp_path: Path):
    store = _store(tmp_path)
    documents = {**_write_group(store, "", {"a": 1}), **_write_group(store, "g", {"b": 2})}
    documents.update(_write_array(store, "g/x", ArraySpec(shape=(3,), kind="numeric", dtype=np.dtype("i2")),
                                  [1, 2, 3]))
    sync(write_documents(store, {"zarr.json": documents["zarr.json"]}))
    consolidated = LAYOUT.consolidated_documents(documents)
    assert set(consolidated) == {"zarr.json"}
    block = consolidated["zarr.json"]["consolidated_metadata"]
    assert block["kind"] == "inline" and block["must_understand"] is False
    assert set(block["metadata"]) == {"g", "g/x"}
    assert block["metadata"]["g"]["consolidated_metadata"]["metadata"] == {}
    sync(write_documents(store, consolidated))
    walked, read = _nodes(store, consolidated=False), _nodes(store, consolidated=True)
    assert walked.keys() == read.keys() == {"", "g", "g/x"}
    assert {p: (n.kind, n.attrs, n.hdmf_dtype) for p, n in walked.items()} == \
        {p: (n.kind, n.attrs, n.hdmf_dtype) for p, n in read.items()}
    zarr.open_consolidated(store, zarr_format=3)  # zarr-python accepts the block


_NAMES = st.text(alphabet=st.sampled_from(list('ab_"\\é😀 {}[]')), min_size=1, max_size=6)
_ATTR_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _NAMES,
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_NAMES, inner, max_size=3),
                            max_leaves=10)


@settings(max_examples=60, deadline=None)
@given(nodes=st.lists(st.tuples(_NAMES, st.booleans(), st.dictionaries(_NAMES, _ATTR_VALUES, max_size=3)),
                      min_size=0, max_size=8, unique_by=lambda n: n[0]),
       reuse=st.lists(st.booleans(), min_size=8, max_size=8))
def test_the_spliced_root_is_the_encoded_consolidated_root(nodes, reuse):
    """``encode_consolidated`` splices the bytes a write stored into the root: byte for byte what encoding
    ``consolidated_documents`` gives, for groups and arrays, any names and attributes, bytes reused or not."""
    from nwbzarr.format.base import encode_json

    documents = LAYOUT.group_documents("", LAYOUT.encode_attributes({"root": 1}, []))
    for name, is_group, attrs in nodes:
        attrs = LAYOUT.encode_attributes(attrs, [])
        if is_group:
            documents.update(LAYOUT.group_documents(f"g/{name}", attrs))
        else:
            spec = ArraySpec(shape=(3,), kind="numeric", dtype=np.dtype("f4"))
            documents.update(LAYOUT.array_documents(f"g/{name}", spec, attrs))
    documents.update(LAYOUT.group_documents("g", {}))  # a group document with nothing in it but its kind
    encoded = {k: encode_json(d) for i, (k, d) in enumerate(documents.items()) if k != "zarr.json" and reuse[i % 8]}
    spliced = LAYOUT.encode_consolidated(documents, encoded)
    assert spliced == {k: encode_json(d) for k, d in LAYOUT.consolidated_documents(documents).items()}
    assert json.loads(spliced["zarr.json"])["consolidated_metadata"]["metadata"].keys() == \
        {k[: -len("/zarr.json")] for k in documents if k != "zarr.json"}


def test_the_spliced_root_refuses_what_would_nest_too_deep():
    from nwbzarr.format.base import MAX_JSON_DEPTH, ResourceLimitError, encode_json

    value: list = [1]
    for _ in range(MAX_JSON_DEPTH - 4):  # fits in its own document, not three levels further down
        value = [value]
    documents = {**LAYOUT.group_documents("", {}), **LAYOUT.group_documents("deep", {"v": value})}
    encoded = {"deep/zarr.json": encode_json(documents["deep/zarr.json"])}
    with pytest.raises(ResourceLimitError, match="deeper than"):
        LAYOUT.encode_consolidated(documents, encoded)


def test_resize_documents_sets_the_shape():
    docs = LAYOUT.array_documents("x", ArraySpec(shape=(3,), kind="numeric", dtype=np.dtype("i2")), {})
    LAYOUT.resize_documents("x", docs, (np.int64(7),))
    assert docs["x/zarr.json"]["shape"] == [7]


def test_open_array_refuses_a_document_zarr_cannot_use():
    from nwbzarr.format.base import FormatError

    node = LAYOUT.node_info("bad", {"zarr_format": 3, "node_type": "array", "shape": [2], "data_type": "int32",
                                    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1]}},
                                    "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
                                    "codecs": [{"name": "no-such-codec"}], "attributes": {}})
    with pytest.raises(FormatError, match="bad"):
        LAYOUT.open_array(MemoryStore(), node)
