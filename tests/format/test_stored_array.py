"""The ``StoredArray`` protocol: every kind of array a layout opens has its members, and they work on a
real store (zarr's ``AsyncArray``, the legacy layout's ``NamedArray``, ``ObjectArray`` and ``BrokenArray``)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.core.array import AsyncArray
from zarr.core.sync import sync
from zarr.storage import LocalStore

from nwbzarr.format.base import ArraySpec, FormatError, StoredArray
from nwbzarr.format.io import write_documents
from nwbzarr.format.legacy import LegacyLayout, LegacyWarning, NamedArray
from nwbzarr.format.legacy_codecs import BrokenArray, ObjectArray
from nwbzarr.format.v3 import CurrentLayout


def _native(dtype) -> np.dtype:
    return dtype.to_native_dtype() if hasattr(dtype, "to_native_dtype") else dtype


def _written(layout, store, path: str, spec: ArraySpec, values) -> StoredArray:
    """Describe an array, store its documents, write ``values`` through the layout, return it reopened."""
    docs = layout.array_documents(path, spec, {})
    sync(write_documents(store, {**layout.group_documents("", {}), **docs}))
    sync(layout.open_array_for_write(store, path, docs).setitem(..., layout.encode_array_values(spec, values)))
    nodes = sync(layout.load_nodes(store, use_consolidated=False))
    return layout.open_array(store, nodes[path])


def _exercise(array: StoredArray, shape, dtype, chunks, new_values) -> None:
    """Every member of the protocol: metadata as described, a write and the read that sees it."""
    assert isinstance(array, StoredArray)
    assert tuple(array.shape) == shape
    assert _native(array.dtype) == dtype
    assert tuple(array.chunks) == chunks
    sync(array.setitem(..., new_values))
    np.testing.assert_array_equal(np.asarray(sync(array.getitem(...)), dtype=dtype), new_values)


def test_zarr_async_array_from_the_current_layout(tmp_path: Path):
    store = LocalStore(tmp_path / "v3.zarr")
    layout = CurrentLayout()
    spec = ArraySpec(shape=(6, 2), kind="numeric", dtype=np.dtype("<i4"), chunks=(4, 2))
    array = _written(layout, store, "a", spec, np.arange(12, dtype="<i4").reshape(6, 2))
    assert isinstance(array, AsyncArray)
    _exercise(array, (6, 2), np.dtype("<i4"), (4, 2), np.full((6, 2), 7, dtype="<i4"))
    np.testing.assert_array_equal(zarr.open_array(store, path="a")[:], np.full((6, 2), 7))  # zarr sees it


def test_plain_zarr_async_array_satisfies_the_protocol(tmp_path: Path):
    arr = zarr.create_array(LocalStore(tmp_path / "plain.zarr"), shape=(5,), chunks=(2,), dtype="f8")
    _exercise(arr._async_array, (5,), np.dtype("f8"), (2,), np.linspace(0, 1, 5))


def test_named_array_of_the_legacy_layout(tmp_path: Path):
    store = LocalStore(tmp_path / "v2.zarr")
    layout = LegacyLayout()
    spec = ArraySpec(shape=(5,), kind="numeric", dtype=np.dtype("<f8"), chunks=(2,))
    array = _written(layout, store, "x", spec, np.arange(5.0))
    assert isinstance(array, NamedArray)
    _exercise(array, (5,), np.dtype("<f8"), (2,), np.arange(5.0) * 3)


def test_object_array_of_the_legacy_layout(tmp_path: Path):
    store = LocalStore(tmp_path / "v2.zarr")
    layout = LegacyLayout()
    spec = ArraySpec(shape=(3,), kind="string", chunks=(2,))
    array = _written(layout, store, "t", spec, ["a", "bé", "c"])
    assert isinstance(array, ObjectArray)
    new = np.array(["x", "y", "zz"], dtype=object)
    _exercise(array, (3,), np.dtype(object), (2,), new)
    nodes = sync(layout.load_nodes(store, use_consolidated=False))
    assert list(layout.decode_array_values(nodes["t"], sync(array.getitem(...)))) == ["x", "y", "zz"]


def test_broken_array_of_the_legacy_layout_names_the_reason(tmp_path: Path):
    root = tmp_path / "broken.zarr"
    (root / "d").mkdir(parents=True)
    (root / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    (root / "d" / ".zattrs").write_text(json.dumps({"zarr_dtype": "int32"}))  # no .zarray
    store = LocalStore(root)
    layout = LegacyLayout()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nodes = sync(layout.load_nodes(store, use_consolidated=False))
    assert any(issubclass(w.category, LegacyWarning) for w in caught)
    array = layout.open_array(store, nodes["d"])
    assert isinstance(array, BrokenArray) and isinstance(array, StoredArray)
    assert array.shape == (0,) and array.chunks == (1,) and array.dtype == np.dtype(object)
    with pytest.raises(FormatError, match=r"/d .*\.zarray is missing"):
        sync(array.getitem(...))
    with pytest.raises(FormatError, match="cannot be written"):
        sync(array.setitem(..., np.zeros(0)))


def test_something_without_the_members_is_not_a_stored_array():
    class OnlyShape:
        shape = (1,)

    assert not isinstance(OnlyShape(), StoredArray)
    assert not isinstance(np.zeros(3), StoredArray)  # no async getitem/setitem
