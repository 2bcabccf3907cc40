"""Hostile and damaged stores (issue 14, point 11): every failure is an nwbzarr error that names the store,
the node and what is wrong, for read(), opening with NWBZarrIO, `nwbzarr info` and migrate.

Each test builds its hostile store itself from a small NWB file written in both layouts."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pynwb import TimeSeries
from pynwb.testing.mock.file import mock_NWBFile
from typer.testing import CliRunner

from nwbzarr import FormatError, NWBZarrIO, ZarrDataIO, ZarrIO
from nwbzarr.cli import app
from nwbzarr.format.corrupt import CorruptChunkError
from nwbzarr.format.legacy import LegacyWarning
from nwbzarr.migrate import MigrationError, migrate

runner = CliRunner()
LAYOUTS = ["v3", "v2"]
HYPOTHESIS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- building the stores -----------------------------------------------------------------------
def _nwbfile():
    nwb = mock_NWBFile()
    # five chunks along the first axis, more than ZarrDataset reads whole (so one chunk is read alone)
    data = ZarrDataIO(np.arange(160_000.0).reshape(40, 4000), chunks=(8, 4000))
    nwb.add_acquisition(TimeSeries(name="ts", data=data, unit="m", rate=1.0, comments="some words"))
    return nwb


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for layout, fmt in (("v3", 3), ("v2", 2)):
        path = tmp_path_factory.mktemp("pristine") / f"file.{layout}.nwb.zarr"
        with NWBZarrIO(path, mode="w", zarr_format=fmt) as io:
            io.write(_nwbfile())
        out[layout] = path
    return out


@pytest.fixture
def store(pristine, tmp_path, request) -> Path:
    layout = request.param
    path = tmp_path / pristine[layout].name
    shutil.copytree(pristine[layout], path)
    return path


def _layout(path: Path) -> str:
    return "v3" if (path / "zarr.json").exists() else "v2"


def edit_attributes(store: Path, node: str, fn) -> None:
    """Change a node's attributes in its own document and in the consolidated metadata."""
    if _layout(store) == "v3":
        _edit_v3(store, node, lambda doc: fn(doc.setdefault("attributes", {})))
    else:
        _edit_v2(store, f"{node}/.zattrs" if node else ".zattrs", fn)


def edit_array(store: Path, node: str, fn) -> None:
    """Change an array's metadata document (``zarr.json`` or ``.zarray``) everywhere it is stored."""
    if _layout(store) == "v3":
        _edit_v3(store, node, fn)
    else:
        _edit_v2(store, f"{node}/.zarray", fn)


def _edit_v3(store: Path, node: str, fn) -> None:
    key = store / node / "zarr.json" if node else store / "zarr.json"
    doc = json.loads(key.read_text())
    fn(doc)
    key.write_text(json.dumps(doc))
    if node:
        root = json.loads((store / "zarr.json").read_text())
        fn(root["consolidated_metadata"]["metadata"][node])
        (store / "zarr.json").write_text(json.dumps(root))


def _edit_v2(store: Path, key: str, fn) -> None:
    doc = json.loads((store / key).read_text())
    fn(doc)
    (store / key).write_text(json.dumps(doc))
    meta = json.loads((store / ".zmetadata").read_text())
    fn(meta["metadata"][key])
    (store / ".zmetadata").write_text(json.dumps(meta))


def chunk_file(store: Path, node: str, index: tuple[int, ...]) -> Path:
    if _layout(store) == "v3":
        return store / node / "c" / "/".join(str(i) for i in index) if index else store / node / "c"
    return store / node / (".".join(str(i) for i in index) if index else "0")


# --- what every entry point must say ----------------------------------------------------------------
def read_all(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LegacyWarning)
        with NWBZarrIO(path, mode="r") as io:
            nwb = io.read()
            ts = nwb.acquisition["ts"]
            ts.data[:]
            assert ts.comments


def info(path: Path) -> BaseException:
    result = runner.invoke(app, ["info", str(path)])
    assert result.exit_code != 0, result.output
    return result.exception


def expect_named(exc_info_or_exc, store: Path, *parts: str, cls: type = FormatError) -> str:
    exc = getattr(exc_info_or_exc, "value", exc_info_or_exc)
    assert isinstance(exc, cls), repr(exc)
    text = str(exc)
    assert str(store) in text, text
    for part in parts:
        assert part in text, f"{part!r} not in {text!r}"
    return text


def every_entry_point_names(store: Path, tmp_path: Path, *parts: str) -> None:
    """read(), opening with NWBZarrIO (which reads the cached specs), `nwbzarr info` and migrate all fail
    with a FormatError naming the store and ``parts``."""
    with pytest.raises(FormatError) as err:
        read_all(store)
    expect_named(err, store, *parts)
    with pytest.raises(FormatError) as err:
        NWBZarrIO(store, mode="r")
    expect_named(err, store, *parts)
    expect_named(info(store), store, *parts)
    with pytest.raises(FormatError) as err:
        migrate(store, tmp_path / "migrated.zarr", progress=False)
    expect_named(err, store, *parts)


# --- HDMF type attributes -------------------------------------------------------------------------------
@pytest.mark.parametrize("store", LAYOUTS, indirect=True)
@pytest.mark.parametrize("node", ["", "acquisition/ts"])
@pytest.mark.parametrize("value", [5, {"type": "TimeSeries"}, ["TimeSeries", "x"], 1.5])
def test_non_text_neurodata_type_is_named(store, tmp_path, node, value):
    edit_attributes(store, node, lambda attrs: attrs.__setitem__("neurodata_type", value))
    every_entry_point_names(store, tmp_path, f"node /{node}", "'neurodata_type'")


@pytest.mark.parametrize("store", LAYOUTS, indirect=True)
def test_one_element_type_list_reads_as_builders_and_is_named_by_read(store):
    """A one-element list is how a MatNWB HDF5 attribute survives conversion: builders and `info` read it,
    read() names it (pynwb cannot build such a file from HDF5 either)."""
    edit_attributes(store, "acquisition/ts", lambda attrs: attrs.__setitem__("neurodata_type", ["TimeSeries"]))
    with pytest.raises(FormatError) as err:
        read_all(store)
    expect_named(err, store, "node /acquisition/ts", "'neurodata_type'", "['TimeSeries']")
    builder = ZarrIO(store, mode="r").read_builder()
    assert builder["acquisition"]["ts"].attributes["neurodata_type"] == ["TimeSeries"]
    assert runner.invoke(app, ["info", str(store)]).exit_code == 0


@pytest.mark.parametrize("store", LAYOUTS, indirect=True)
@pytest.mark.parametrize("value", [[1], "text", 3, None])
def test_metadata_document_that_is_not_an_object_is_named(store, tmp_path, value):
    """A node's document replaced by other JSON, in its own key and in the consolidated metadata."""
    if _layout(store) == "v3":
        key, consolidated, entry = store / "acquisition/zarr.json", store / "zarr.json", "acquisition"
        root = json.loads(consolidated.read_text())
        root["consolidated_metadata"]["metadata"][entry] = value
    else:
        key, consolidated, entry = store / "acquisition/.zgroup", store / ".zmetadata", "acquisition/.zgroup"
        root = json.loads(consolidated.read_text())
        root["metadata"][entry] = value
    key.write_text(json.dumps(value))
    consolidated.write_text(json.dumps(root))
    for mode in ("r", "r-"):  # consolidated metadata, then the documents themselves
        with pytest.raises(FormatError) as err:
            ZarrIO(store, mode=mode).read_builder()
        expect_named(err, store, "acquisition", "not a JSON object")
    expect_named(info(store), store, "acquisition", "not a JSON object")


# --- links -------------------------------------------------------------------------------------------
LINK_ATTR = {"v3": "_LINKS", "v2": "zarr_link"}
BAD_LINKS = ["abc", {"name": "x", "path": "/y"}, ["abc"], [{"path": "/acquisition"}], [{"name": 3, "path": "/a"}],
             [{"name": "x", "path": 5}], [{"name": "x", "path": "/a", "source": ["."]}]]


@pytest.mark.parametrize("store", LAYOUTS, indirect=True)
@pytest.mark.parametrize("links", BAD_LINKS)
def test_links_of_the_wrong_type_are_named(store, tmp_path, links):
    attr = LINK_ATTR[_layout(store)]
    edit_attributes(store, "acquisition/ts", lambda attrs: attrs.__setitem__(attr, links))
    every_entry_point_names(store, tmp_path, "/acquisition/ts", attr)


@pytest.mark.parametrize("store", ["v3"], indirect=True)
@given(value=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                        max_size=3),
                          max_leaves=6))
@HYPOTHESIS
def test_any_json_as_links_loads_or_is_named(store, value):
    """Whatever JSON stands in _LINKS: the store loads (an empty list) or fails naming the group and _LINKS."""
    edit_attributes(store, "acquisition/ts", lambda attrs: attrs.__setitem__("_LINKS", value))
    try:
        links = ZarrIO(store, mode="r").nodes["acquisition/ts"].links
    except FormatError as exc:
        expect_named(exc, store, "/acquisition/ts", "_LINKS")
    else:
        assert value in (None, []) and links == []


# --- shapes and data types ------------------------------------------------------------------------------
V3_BAD_FIELDS = [("shape", "abc"), ("shape", [1.5, 4000]), ("shape", [-40, 4000]), ("shape", None),
                 ("data_type", 7), ("data_type", None), ("codecs", "zstd"), ("attributes", [1])]


@pytest.mark.parametrize("store", ["v3"], indirect=True)
@pytest.mark.parametrize(("field", "value"), V3_BAD_FIELDS)
def test_v3_metadata_of_the_wrong_type_is_named(store, tmp_path, field, value):
    edit_array(store, "acquisition/ts/data", lambda doc: doc.__setitem__(field, value))
    every_entry_point_names(store, tmp_path, "/acquisition/ts/data", field)


@pytest.mark.parametrize("store", ["v3"], indirect=True)
def test_v3_chunk_shape_of_other_rank_is_named(store, tmp_path):
    edit_array(store, "acquisition/ts/data",
               lambda doc: doc["chunk_grid"]["configuration"].__setitem__("chunk_shape", [8]))
    every_entry_point_names(store, tmp_path, "/acquisition/ts/data", "chunk shape [8]")


@pytest.mark.parametrize("store", ["v3"], indirect=True)
@pytest.mark.parametrize(("field", "value", "says"), [("data_type", "float99", "float99"),
                                                      ("fill_value", "abc", "abc")])
def test_v3_values_zarr_refuses_are_named_on_read_and_migrate(store, tmp_path, field, value, says):
    """Values only zarr can judge (data type names, fill values) are named when the array is opened."""
    edit_array(store, "acquisition/ts/data", lambda doc: doc.__setitem__(field, value))
    with pytest.raises(FormatError) as err:
        read_all(store)
    expect_named(err, store, "array /acquisition/ts/data", says)
    with pytest.raises(MigrationError) as err:
        migrate(store, tmp_path / "m.zarr", progress=False)
    assert "/acquisition/ts/data" in str(err.value) and says in str(err.value)


@pytest.mark.parametrize("store", ["v2"], indirect=True)
@pytest.mark.parametrize(("field", "value"), [("shape", "abc"), ("shape", [1.5, 4000]), ("chunks", [0, 4000]),
                                              ("chunks", [8]), ("dtype", 7), ("dtype", None)])
def test_v2_zarray_of_the_wrong_type_is_named_when_read(store, tmp_path, field, value):
    """The legacy layout keeps the rest of a store usable: the dataset warns on open, raises when read,
    shows as UNREADABLE in `nwbzarr info` and stops a migration, naming the store, dataset and field."""
    edit_array(store, "acquisition/ts/data", lambda doc: doc.__setitem__(field, value))
    with pytest.warns(LegacyWarning, match="acquisition/ts/data"):
        io = NWBZarrIO(store, mode="r")
    nwb = io.read()
    assert nwb.session_description
    with pytest.raises(FormatError) as err:
        nwb.acquisition["ts"].data[:]
    expect_named(err, store, "/acquisition/ts/data", field)
    result = runner.invoke(app, ["info", str(store)])
    assert result.exit_code == 0, result.output
    assert "UNREADABLE" in result.output and field in result.output
    with pytest.raises(MigrationError, match=f"/acquisition/ts/data.*{field}"):
        migrate(store, tmp_path / "m.zarr", progress=False)


@pytest.mark.parametrize("store", LAYOUTS, indirect=True)
@given(shape=st.one_of(st.text(max_size=3), st.floats(), st.lists(st.floats(allow_nan=False), min_size=1, max_size=2),
                       st.lists(st.integers(max_value=-1), min_size=2, max_size=2), st.dictionaries(st.text(), st.integers())))
@HYPOTHESIS
def test_any_bad_shape_is_named(store, shape):
    original = {}
    edit_array(store, "acquisition/ts/data", lambda doc: original.setdefault("shape", doc["shape"]))
    edit_array(store, "acquisition/ts/data", lambda doc: doc.__setitem__("shape", shape))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LegacyWarning)
            with pytest.raises(FormatError) as err:
                read_all(store)
        expect_named(err, store, "/acquisition/ts/data", "shape")
    finally:
        edit_array(store, "acquisition/ts/data", lambda doc: doc.__setitem__("shape", original["shape"]))


# --- cached specifications -------------------------------------------------------------------------------
@pytest.mark.parametrize("store", LAYOUTS, indirect=True)
def test_missing_cached_spec_chunk_is_named(store):
    namespace = store / "specifications" / "core" / "2.11.0" / "namespace"
    chunk_file(store, "specifications/core/2.11.0/namespace", ()).unlink()
    assert namespace.is_dir()
    with pytest.raises(FormatError) as err:
        NWBZarrIO(store, mode="r")
    expect_named(err, store, "/specifications/core/2.11.0/namespace")


@pytest.mark.parametrize("store", LAYOUTS, indirect=True)
def test_damaged_cached_spec_chunk_is_named(store):
    chunk_file(store, "specifications/core/2.11.0/namespace", ()).write_bytes(b"garbage!" * 8)
    with pytest.raises(CorruptChunkError) as err:
        NWBZarrIO(store, mode="r")
    expect_named(err, store, "/specifications/core/2.11.0/namespace", "cannot be decoded",
                 cls=CorruptChunkError)


# --- damaged chunks ---------------------------------------------------------------------------------------
def _chunk_key(store: Path, node: str, index: tuple[int, ...]) -> str:
    return str(chunk_file(store, node, index).relative_to(store))


@pytest.mark.parametrize("store", LAYOUTS, indirect=True)
@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_damaged_numeric_chunk_is_named_by_key(store, tmp_path, damage):
    victim = chunk_file(store, "acquisition/ts/data", (2, 0))
    raw = victim.read_bytes()
    victim.write_bytes({"garbage": b"\x13\x37" * 50, "truncated": raw[: len(raw) // 2], "empty": b""}[damage])
    key = _chunk_key(store, "acquisition/ts/data", (2, 0))
    io = NWBZarrIO(store, mode="r")
    data = io.read().acquisition["ts"].data
    assert np.array_equal(data[0:8], np.arange(32_000.0).reshape(8, 4000))  # other chunks still read
    for selection in (slice(None), slice(10, 30), 17, (slice(16, 18), slice(2, 5))):
        with pytest.raises(CorruptChunkError) as err:
            data[selection]
        expect_named(err, store, "dataset /acquisition/ts/data", repr(key), cls=CorruptChunkError)
        assert isinstance(err.value, OSError)
    with pytest.raises(MigrationError, match=f"/acquisition/ts/data.*{key}"):
        migrate(store, tmp_path / "m.zarr", progress=False)


@pytest.mark.parametrize("store", LAYOUTS, indirect=True)
@pytest.mark.parametrize(("node", "index"), [("session_description", ()), ("identifier", ()),
                                             ("file_create_date", (0,))])
def test_damaged_small_text_chunk_is_named_by_key(store, node, index):
    """Scalars are read with the file (v3: zstd, v2: blosc), one-chunk text when used: read() names the chunk."""
    victim = chunk_file(store, node, index)
    victim.write_bytes(victim.read_bytes()[:7])
    with pytest.raises(CorruptChunkError) as err:
        read_all(store)
    expect_named(err, store, f"dataset /{node}", repr(str(victim.relative_to(store))), cls=CorruptChunkError)


@pytest.mark.parametrize("store", LAYOUTS, indirect=True)
@given(garbage=st.binary(min_size=0, max_size=300), index=st.integers(0, 4))
@HYPOTHESIS
def test_any_garbage_chunk_is_named_by_key(store, garbage, index):
    victim = chunk_file(store, "acquisition/ts/data", (index, 0))
    original = victim.read_bytes()
    victim.write_bytes(garbage)
    try:
        with NWBZarrIO(store, mode="r") as io:
            data = io.read().acquisition["ts"].data
            with pytest.raises(CorruptChunkError) as err:
                data[:]
        expect_named(err, store, repr(_chunk_key(store, "acquisition/ts/data", (index, 0))),
                     cls=CorruptChunkError)
    finally:
        victim.write_bytes(original)


@pytest.mark.parametrize("store", ["v3"], indirect=True)
def test_damaged_shard_is_named_by_key(store, tmp_path):
    """Sharded arrays go through zarr's own pipeline: the shard at fault is named."""
    path = tmp_path / "sharded.zarr"
    nwb = mock_NWBFile()
    nwb.add_acquisition(TimeSeries(name="ts", unit="m", rate=1.0,
                                   data=ZarrDataIO(np.arange(400_000.0), chunks=(10_000,), shards=(100_000,))))
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwb)
    (path / "acquisition/ts/data/c/2").write_bytes(b"not a shard")
    data = NWBZarrIO(path, mode="r").read().acquisition["ts"].data
    assert data[0:100_000].sum() == sum(range(100_000))
    with pytest.raises(CorruptChunkError) as err:
        data[150_000:250_000]
    expect_named(err, path, "'acquisition/ts/data/c/2'", cls=CorruptChunkError)


# --- stores that are not NWB ------------------------------------------------------------------------------
@pytest.mark.parametrize("zarr_format", [3, 2])
def test_plain_zarr_group_is_named_as_not_nwb(tmp_path, zarr_format):
    path = tmp_path / "plain.zarr"
    group = zarr.open_group(path, mode="w", zarr_format=zarr_format)
    group.create_array("x", shape=(3,), dtype="i4")[:] = [1, 2, 3]
    with pytest.raises(FormatError) as err:
        NWBZarrIO(path, mode="r").read()
    expect_named(err, path, "no 'neurodata_type' attribute", "plain Zarr group")
    assert isinstance(err.value, ValueError)  # what hdmf raised before ('No data_type found for builder root')
    builder = ZarrIO(path, mode="r").read_builder()
    assert builder["x"].data[:].tolist() == [1, 2, 3]
    result = runner.invoke(app, ["info", str(path)])
    assert result.exit_code == 0 and "x" in result.output


@pytest.mark.parametrize("store", ["v2"], indirect=True)
def test_a_store_that_fails_is_not_called_damaged(store):
    """Store failures keep their own error (here: the store was deleted after it was opened); only bytes
    that do not decode become CorruptChunkError. (v3: test_io_lifecycle's deleted-store test, whose
    FileNotFoundError goes through the same wrapper.)"""
    with NWBZarrIO(store, mode="r") as io:
        data = io.read().acquisition["ts"].data
    shutil.rmtree(store)  # datasets outlive their IO and reopen the store: it is gone
    with pytest.raises(Exception) as err:
        data[24:32]
    assert not isinstance(err.value, CorruptChunkError), repr(err.value)
    assert "does not exist" in str(err.value) or isinstance(err.value, FileNotFoundError)
