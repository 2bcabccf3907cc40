"""HDF5 types through ``nwbzarr convert`` for generated files: every attribute and dataset type h5py can
write (text in both character sets, variable or fixed length; every integer and float width), scalar or
1-D, survives HDF5 -> Zarr -> HDF5 in both layouts, as h5py sees it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _h5_snapshot import snapshot
from nwbzarr.convert import convert

NUMBER_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "float16", "float32", "float64"]
ASCII = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
UNICODE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@st.composite
def typed_values(draw) -> tuple[np.ndarray, object]:
    """(values, h5py dtype): a scalar or 1-D array of text or numbers."""
    shape = draw(st.sampled_from([(), (0,), (1,), (3,)]))
    count = int(np.prod(shape)) if shape else 1
    kind = draw(st.sampled_from(["utf8", "ascii", "fixed", *NUMBER_DTYPES]))
    if kind in ("utf8", "ascii"):
        texts = draw(st.lists(UNICODE if kind == "utf8" else ASCII, min_size=count, max_size=count))
        dtype = h5py.string_dtype("utf-8" if kind == "utf8" else "ascii")
        values = np.array([t if kind == "utf8" else t.encode() for t in texts], dtype=dtype)
    elif kind == "fixed":
        texts = draw(st.lists(ASCII.filter(len), min_size=count, max_size=count))
        dtype = h5py.string_dtype("ascii", max([len(t) for t in texts] + [1]) + draw(st.integers(0, 3)))
        values = np.array([t.encode() for t in texts], dtype=dtype)
    else:
        dtype = np.dtype(kind)
        info = np.iinfo(dtype) if dtype.kind in "iu" else None
        element = (st.integers(int(info.min), int(info.max)) if info is not None
                   else st.floats(width=dtype.itemsize * 8, allow_nan=False, allow_infinity=False))
        values = np.array(draw(st.lists(element, min_size=count, max_size=count)), dtype=dtype)
    return values.reshape(shape), dtype


@st.composite
def hdf5_files(draw) -> list[tuple[str, str, np.ndarray, object]]:
    """Objects to write: ("attr" | "dataset", name, values, dtype)."""
    items = draw(st.lists(st.tuples(st.sampled_from(["attr", "dataset"]), typed_values()), min_size=1, max_size=6))
    return [(where, f"x{i}", values, dtype) for i, (where, (values, dtype)) in enumerate(items)]


def _write(path: Path, items) -> None:
    with h5py.File(path, "w") as f:
        group = f.create_group("g")
        for where, name, values, dtype in items:
            if where == "attr":
                group.attrs.create(name, values, dtype=dtype)
            else:
                group.create_dataset(name, data=values, dtype=dtype)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=hdf5_files(), zarr_format=st.sampled_from([3, 2]))
def test_generated_hdf5_types_survive_hdf5_zarr_hdf5(items, zarr_format):
    with tempfile.TemporaryDirectory() as tmp:
        source, store, back = Path(tmp) / "in.h5", Path(tmp) / "in.h5.zarr", Path(tmp) / "back.h5"
        _write(source, items)
        convert(source, store, zarr_format=zarr_format)
        convert(store, back)
        assert snapshot(back) == snapshot(source)
