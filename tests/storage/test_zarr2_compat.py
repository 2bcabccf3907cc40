"""Files written by zarr 2.18's SQLiteStore, LMDBStore, DBMStore and ZipStore (fixtures made by
fixtures/make_zarr2_fixtures.py) open in nwbzarr's stores and read identically."""

from __future__ import annotations

import dbm.dumb
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.storage import ZipStore

from nwbzarr.storage import DBMStore, LMDBStore, SQLiteStore, copy_store, open_store

FIXTURES = Path(__file__).parent / "fixtures"


def _open(kind: str, tmp_path: Path):
    if kind == "dbm":
        for ext in (".dat", ".dir", ".bak"):
            shutil.copy(FIXTURES / f"zarr2.dbm{ext}", tmp_path / f"zarr2.dbm{ext}")
        return DBMStore(tmp_path / "zarr2.dbm", flag="r", open=dbm.dumb.open)
    name = {"sqlite": "zarr2.sqldb", "lmdb": "zarr2.lmdb", "zip": "zarr2.zip"}[kind]
    src, dst = FIXTURES / name, tmp_path / name
    shutil.copytree(src, dst) if src.is_dir() else shutil.copy(src, dst)
    return open_store(str(dst), mode="r")


def _content(store) -> dict[str, bytes]:
    async def go():
        await store._ensure_open()  # zarr's ZipStore cannot list before it is opened
        return {k: (await store.get(k, default_buffer_prototype())).to_bytes() async for k in store.list()}

    return zarr.core.sync.sync(go())


@pytest.mark.parametrize("kind", ["sqlite", "lmdb", "dbm", "zip"])
def test_zarr2_files_open_and_read(kind, tmp_path) -> None:
    store = _open(kind, tmp_path)
    assert isinstance(store, {"sqlite": SQLiteStore, "lmdb": LMDBStore, "dbm": DBMStore, "zip": ZipStore}[kind])
    root = zarr.open_group(store, mode="r", zarr_format=2)
    assert root.attrs["title"] == "zarr 2 fixture"
    a = root["a"][:]
    expected = np.full((10, 10), -1, dtype="i4")
    expected[:7] = np.arange(70).reshape(7, 10)
    assert np.array_equal(a, expected)
    assert root["g"].attrs["n"] == 3
    assert np.allclose(root["g/b%_x"][:], np.linspace(0, 1, 13))
    assert sorted(zarr.core.sync.sync(_list_dir(store, "g"))) == [".zattrs", ".zgroup", "b%_x"]


async def _list_dir(store, prefix):
    return [k async for k in store.list_dir(prefix)]


def test_all_zarr2_fixtures_hold_identical_bytes(tmp_path) -> None:
    contents = {}
    for kind in ["sqlite", "lmdb", "dbm", "zip"]:
        (tmp_path / kind).mkdir()
        contents[kind] = _content(_open(kind, tmp_path / kind))
    assert len(contents["sqlite"]) == 15  # every metadata and chunk key
    assert contents["sqlite"] == contents["lmdb"] == contents["dbm"] == contents["zip"]


def test_zarr2_sqlite_copies_to_lmdb_identically(tmp_path) -> None:
    source = _open("sqlite", tmp_path)
    dest = LMDBStore(tmp_path / "copy.lmdb", map_size=2**24)
    copy_store(source, dest)
    assert _content(dest) == _content(source)
