"""Builder-level round trips over generated dtypes, shapes, names and attribute values."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
from hdmf.build import DatasetBuilder, GroupBuilder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nwbzarr import ZarrIO

NUMERIC = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64", "bool"]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# names that are stored verbatim: non-ASCII, spaces, %, #, leading dots, __, characters some file systems reject
name_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00")
names = st.text(name_chars, min_size=1, max_size=20).filter(lambda n: n not in (".", "..", "zarr.json"))
special_names = st.sampled_from([".hidden", "__dunder", "a b", "100%", "#tag", "ü-é", "a:b*c?", "日本", "..x"])


def _round_trip(root: GroupBuilder) -> GroupBuilder:
    folder = Path(tempfile.mkdtemp(prefix="nwbzarr-hyp-"))
    with ZarrIO(folder / "f.zarr", mode="w") as io:
        io.write_builder(root, cache_spec=False)
    io = ZarrIO(folder / "f.zarr", mode="r")
    return io.read_builder()


def _values_equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f":
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    return a.shape == b.shape and np.array_equal(a, b)


@SETTINGS
@given(dtype=st.sampled_from(NUMERIC), shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
       data=st.data())
def test_numeric_datasets_round_trip(dtype, shape, data):
    values = data.draw(hnp.arrays(np.dtype(dtype), shape))
    root = GroupBuilder("root")
    root.set_dataset(DatasetBuilder("d", data=values))
    back = _round_trip(root)["d"].data
    got = back if np.ndim(back) == 0 else back[...]
    assert _values_equal(got, values)
    if np.ndim(values):
        assert back.dtype == values.dtype


@SETTINGS
@given(texts=st.lists(st.text(name_chars, max_size=12), min_size=0, max_size=8))
def test_text_datasets_round_trip(texts):
    root = GroupBuilder("root")
    root.set_dataset(DatasetBuilder("t", data=texts, dtype="text"))
    root.set_dataset(DatasetBuilder("s", data=texts[0] if texts else "", dtype="text"))
    back = _round_trip(root)
    assert list(back["t"].data[:]) == texts
    assert back["s"].data == (texts[0] if texts else "")


@SETTINGS
@given(name=st.one_of(names, special_names))
def test_names_round_trip_verbatim(name):
    root = GroupBuilder("root")
    group = GroupBuilder(name)
    group.set_dataset(DatasetBuilder(name, data=np.arange(3)))
    root.set_group(group)
    back = _round_trip(root)
    assert name in back.groups
    assert name in back.groups[name].datasets


attr_values = st.one_of(
    st.integers(-(2**53), 2**53), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(name_chars, max_size=10), st.lists(st.integers(-1000, 1000), max_size=5),
    st.lists(st.text(name_chars, max_size=5), min_size=1, max_size=4),
)


@SETTINGS
@given(attrs=st.dictionaries(st.text(name_chars, min_size=1, max_size=8).filter(
    lambda k: k not in ("_DTYPE", "_LINKS", "_REFERENCE_FIELDS", "zarr_dtype", "zarr_link", ".specloc",
                        "_ARRAY_DIMENSIONS")), attr_values, max_size=6))
def test_attributes_round_trip(attrs):
    root = GroupBuilder("root")
    root.set_group(GroupBuilder("g", attributes=dict(attrs)))
    back = _round_trip(root)["g"].attributes
    assert set(back) == set(attrs)
    for key, value in attrs.items():
        got = back[key]
        if isinstance(value, float) and math.isnan(value):
            assert isinstance(got, float) and math.isnan(got)
        else:
            assert got == value and type(got) is type(value), key


def test_numpy_attribute_types_round_trip():
    attrs = {"i": np.int16(-3), "u": np.uint64(2**63), "f": np.float32(1.5), "b": np.bool_(True),
             "arr": np.arange(4, dtype="int8"), "farr": np.array([np.nan, np.inf, -np.inf]),
             "sarr": np.array(["a", "bb"]), "bytes": b"raw"}
    root = GroupBuilder("root")
    root.set_group(GroupBuilder("g", attributes=attrs))
    back = _round_trip(root)["g"].attributes
    assert back["i"] == -3 and back["u"] == 2**63 and back["f"] == 1.5 and back["b"] is True
    assert list(back["arr"]) == [0, 1, 2, 3] and back["sarr"] == ["a", "bb"] and back["bytes"] == "raw"
    assert math.isnan(back["farr"][0]) and back["farr"][1:] == [math.inf, -math.inf]


def test_empty_and_scalar_datasets():
    root = GroupBuilder("root")
    root.set_dataset(DatasetBuilder("empty", data=np.zeros((0, 3), dtype="float32")))
    root.set_dataset(DatasetBuilder("empty_text", data=[], dtype="text"))
    root.set_dataset(DatasetBuilder("scalar", data=np.float64(2.5)))
    root.set_dataset(DatasetBuilder("scalar_bool", data=True))
    back = _round_trip(root)
    assert back["empty"].data.shape == (0, 3) and back["empty"].data.dtype == np.float32
    assert len(back["empty_text"].data) == 0
    assert (back["scalar"].data == 2.5 and back["scalar_bool"].data is np.True_) or back["scalar_bool"].data is True


def test_compound_with_text_and_references():
    from hdmf.build import ReferenceBuilder
    from hdmf.spec import DtypeSpec, RefSpec

    root = GroupBuilder("root")
    target = GroupBuilder("target")
    root.set_group(target)
    dtype = [DtypeSpec("n", "n", "int32"), DtypeSpec("label", "l", "text"),
             DtypeSpec("ref", "r", RefSpec("Container", "object"))]
    rows = [(1, "one", ReferenceBuilder(target)), (2, "two ü", ReferenceBuilder(target))]
    root.set_dataset(DatasetBuilder("cpd", data=rows, dtype=dtype))
    back = _round_trip(root)
    got = back["cpd"].data[:]
    assert [(r[0], r[1]) for r in got] == [(1, "one"), (2, "two ü")]
    assert all(r[2] is back["target"] for r in got)
