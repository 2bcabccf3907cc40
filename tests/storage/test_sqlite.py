"""SQLiteStore against zarr's StoreTests plus SQLite-specific behaviour."""

from __future__ import annotations

import sqlite3

import pytest
from zarr.abc.store import RangeByteRequest
from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.testing.store import StoreTests

from nwbzarr.storage import SQLiteStore


class TestSQLiteStore(StoreTests[SQLiteStore, cpu.Buffer]):
    store_cls = SQLiteStore
    buffer_cls = cpu.Buffer

    async def set(self, store: SQLiteStore, key: str, value: cpu.Buffer) -> None:
        with sqlite3.connect(store.path) as con:
            con.execute("CREATE TABLE IF NOT EXISTS zarr(k TEXT PRIMARY KEY, v BLOB)")
            con.execute("REPLACE INTO zarr VALUES (?, ?)", (key, value.to_bytes()))

    async def get(self, store: SQLiteStore, key: str) -> cpu.Buffer:
        with sqlite3.connect(store.path) as con:
            (v,) = con.execute("SELECT v FROM zarr WHERE k = ?", (key,)).fetchone()
        return self.buffer_cls.from_bytes(v)

    @pytest.fixture
    def store_kwargs(self, tmp_path) -> dict:
        path = tmp_path / "data.sqldb"
        SQLiteStore(path).close()  # read-only opens need an existing file
        with sqlite3.connect(path) as con:
            con.execute("CREATE TABLE IF NOT EXISTS zarr(k TEXT PRIMARY KEY, v BLOB)")
        return {"path": str(path)}

    def test_store_repr(self, store: SQLiteStore) -> None:
        assert repr(store) == f"SQLiteStore(path={store.path!r}, wal=True, timeout=60.0, read_only=False)"

    def test_store_supports_writes(self, store: SQLiteStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: SQLiteStore) -> None:
        assert store.supports_listing


async def test_like_wildcards_are_literal(tmp_path) -> None:
    """'%' and '_' in keys are ordinary characters for listing and delete_dir."""
    store = await SQLiteStore.open(tmp_path / "s.sqldb")
    buf = cpu.Buffer.from_bytes(b"x")
    for key in ["a_b/x", "aXb/x", "a%/y", "ab/z", "a_b2/q"]:
        await store.set(key, buf)
    assert [k async for k in store.list_prefix("a_b/")] == ["a_b/x"]
    assert [k async for k in store.list_prefix("a%")] == ["a%/y"]
    await store.delete_dir("a_b")
    assert sorted([k async for k in store.list()]) == ["a%/y", "aXb/x", "a_b2/q", "ab/z"]


async def test_byte_range_reads_use_blob_io(tmp_path) -> None:
    """A range of a large value comes back exactly, clipped at the end of the value."""
    store = await SQLiteStore.open(tmp_path / "s.sqldb")
    data = bytes(range(256)) * 4096
    await store.set("big", cpu.Buffer.from_bytes(data))
    proto = default_buffer_prototype()
    got = await store.get("big", proto, RangeByteRequest(1000, 1000 + 70000))
    assert got.to_bytes() == data[1000:71000]
    got = await store.get("big", proto, RangeByteRequest(len(data) - 5, len(data) + 100))
    assert got.to_bytes() == data[-5:]


def test_memory_path_refused() -> None:
    with pytest.raises(ValueError, match="needs a file path"):
        SQLiteStore(":memory:")


async def test_read_only_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        await SQLiteStore.open(tmp_path / "missing.sqldb", read_only=True)


async def test_read_only_non_zarr_database(tmp_path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t(x)")
    with pytest.raises(ValueError, match="not a zarr SQLite store"):
        await SQLiteStore.open(path, read_only=True)
