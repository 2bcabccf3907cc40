"""A folder written by a container store opens as that store from its plain path: read as a plain directory
store, its packed chunks would be missing keys, i.e. fill values returned silently."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from zarr.storage import LocalStore

from nwbzarr.storage import H5ContainerStore
from nwbzarr.storage._routing import STORE_KIND_FILE
from nwbzarr.storage.url import local_store_kind, open_store
from nwbzarr.storage.zipcontainer import ZipContainerStore

KINDS = [(H5ContainerStore, "h5container"), (ZipContainerStore, "zipcontainer")]


def _written(cls, root):
    store = cls(root)
    arr = zarr.create_array(store, name="a", shape=(100,), chunks=(10,), dtype="i4")
    arr[:] = np.arange(100)
    if hasattr(store, "consolidate"):
        store.consolidate()  # chunks packed into the containers
    store.close()
    return root


@pytest.mark.parametrize(("cls", "kind"), KINDS)
def test_plain_path_opens_the_container_store(tmp_path, cls, kind):
    root = _written(cls, tmp_path / "x")
    assert (root / STORE_KIND_FILE).read_text() == kind
    assert local_store_kind(root) == kind
    store = open_store(str(root), "r")
    assert type(store) is cls
    np.testing.assert_array_equal(zarr.open_array(store, path="a", mode="r")[:], np.arange(100))
    # what a directory store would have returned: the packed chunks are no files of their own
    plain = zarr.open_array(LocalStore(root, read_only=True), path="a", mode="r")[:]
    assert not np.array_equal(plain, np.arange(100))


@pytest.mark.parametrize(("cls", "kind"), KINDS)
def test_stores_from_before_the_kind_file_are_found_by_content(tmp_path, cls, kind):
    root = _written(cls, tmp_path / "x")
    (root / STORE_KIND_FILE).unlink()
    assert local_store_kind(root) == kind


@pytest.mark.parametrize(("cls", "kind"), KINDS)
def test_the_kind_file_is_no_key_and_survives_clear(tmp_path, cls, kind):
    root = _written(cls, tmp_path / "x")
    store = cls(root)
    keys = zarr.core.sync.sync(_keys(store))
    assert STORE_KIND_FILE not in keys and "a/zarr.json" in keys
    zarr.core.sync.sync(store.clear())
    assert (root / STORE_KIND_FILE).read_text() == kind


async def _keys(store):
    return [k async for k in store.list()]


def test_a_plain_directory_store_stays_one(tmp_path):
    root = tmp_path / "d.zarr"
    zarr.create_array(LocalStore(root), name="a", shape=(4,), dtype="i4")[:] = 1
    assert local_store_kind(root) == "directory"
    assert type(open_store(str(root), "r")) is LocalStore


def test_a_damaged_kind_file_is_refused(tmp_path):
    root = _written(H5ContainerStore, tmp_path / "x")
    (root / STORE_KIND_FILE).write_text("rocksdb")
    with pytest.raises(ValueError, match="rocksdb"):
        local_store_kind(root)
