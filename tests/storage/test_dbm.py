"""DBMStore against zarr's StoreTests plus DBM-specific behaviour, on dbm.dumb and on semidbm (this Python
has no gdbm or ndbm)."""

from __future__ import annotations

import dbm.dumb

import pytest
from zarr.core.buffer import cpu
from zarr.testing.store import StoreTests

from nwbzarr.storage import DBMStore
from nwbzarr.storage.dbm import _DBS, _Handle


def _raw(store: DBMStore) -> _Handle:
    """The process's shared dbm handle for the store's file, bypassing store methods."""
    return _DBS.acquire(store.path, lambda: _Handle(store._opener, True, store._writer_lock()))


class TestDBMStore(StoreTests[DBMStore, cpu.Buffer]):
    store_cls = DBMStore
    buffer_cls = cpu.Buffer

    async def set(self, store: DBMStore, key: str, value: cpu.Buffer) -> None:
        handle = _raw(store)
        handle.upgrade("c")
        handle.db[key.encode()] = value.to_bytes()
        _DBS.release(store.path, lambda h: h.close())

    async def get(self, store: DBMStore, key: str) -> cpu.Buffer:
        handle = _raw(store)
        value = handle.db[key.encode()]
        _DBS.release(store.path, lambda h: h.close())
        return self.buffer_cls.from_bytes(value)

    @pytest.fixture
    def store_kwargs(self, tmp_path) -> dict:
        path = str(tmp_path / "data.dbm")
        dbm.dumb.open(path, "c").close()  # read-only opens need an existing file
        return {"path": path, "open": dbm.dumb.open}

    def test_store_repr(self, store: DBMStore) -> None:
        assert repr(store).startswith(f"DBMStore(path={store.path!r}, flag='c', mode=438, open=<function open")

    def test_store_supports_writes(self, store: DBMStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: DBMStore) -> None:
        assert store.supports_listing


def test_bad_flag() -> None:
    with pytest.raises(ValueError, match="invalid dbm flag 'x'"):
        DBMStore("somewhere", flag="x")


async def test_read_only_missing(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        await DBMStore.open(tmp_path / "missing", flag="r")


async def test_reopen_after_close_and_flush(tmp_path) -> None:
    """Values survive close; a second process-level open sees them."""
    store = await DBMStore.open(tmp_path / "d", open=dbm.dumb.open)
    await store.set("g/zarr.json", cpu.Buffer.from_bytes(b"{}"))
    store.flush()
    store.close()
    again = await DBMStore.open(tmp_path / "d", flag="r", open=dbm.dumb.open)
    assert again.read_only
    assert [k async for k in again.list()] == ["g/zarr.json"]


class TestDBMStoreOnSemidbm(TestDBMStore):
    """The same contract on a second dbm module (semidbm, from PyPI: this Python has no gdbm/ndbm)."""

    @pytest.fixture
    def store_kwargs(self, tmp_path) -> dict:
        import semidbm

        path = str(tmp_path / "data.semidbm")
        semidbm.open(path, "c").close()
        return {"path": path, "open": semidbm.open}

    def test_store_repr(self, store: DBMStore) -> None:
        assert repr(store).startswith(f"DBMStore(path={store.path!r}, flag='c', mode=438, open=<function open")


def test_nwb_file_on_semidbm(tmp_path) -> None:
    """A full NWB file written and read back through DBMStore(open=semidbm.open)."""
    import semidbm

    from _nwb_factory import broad_nwbfile
    from nwbzarr import NWBZarrIO

    store = DBMStore(tmp_path / "f.semidbm", open=semidbm.open)
    with NWBZarrIO(store, mode="w") as io:
        io.write(broad_nwbfile())
    store.close()  # semidbm files are single-writer: the writer closes before readers open
    with NWBZarrIO(DBMStore(tmp_path / "f.semidbm", open=semidbm.open, read_only=True), mode="r") as io:
        nwb = io.read()
        assert len(nwb.units) > 0 and nwb.electrodes is not None
