"""DBMStore against zarr's StoreTests plus DBM-specific behaviour, on dbm.dumb and on semidbm (this Python
has no gdbm or ndbm)."""

from __future__ import annotations

import dbm.dumb
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.core.buffer import cpu
from zarr.testing.store import StoreTests

from nwbzarr.parallel import multiprocess_safe
from nwbzarr.storage import DBMStore
from nwbzarr.storage.dbm import _DBS, _Handle
from nwbzarr.storage.locks import StoreLockedError


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


# --- several writing processes (issue 14, point 8): serialized by the file's writer lock, or refused --------
WRITE_ONE_ARRAY = textwrap.dedent("""
    import dbm.dumb, sys
    import zarr
    from nwbzarr.storage import DBMStore
    path, index = sys.argv[1], int(sys.argv[2])
    store = DBMStore(path, open=dbm.dumb.open, lock_timeout=120)
    group = zarr.open_group(store=store, mode="a")
    array = group.create_array(f"a{index}", shape=(40, 8), chunks=(5, 8), dtype="int64")
    for row in range(40):
        array[row] = index * 1000 + row
    store.close()
""")

HOLD_WRITABLE = textwrap.dedent("""
    import dbm.dumb, sys
    import zarr
    from nwbzarr.storage import DBMStore
    store = DBMStore(sys.argv[1], open=dbm.dumb.open)
    zarr.open_group(store=store, mode="a").attrs["held"] = True
    print("holding", flush=True)
    sys.stdin.readline()
    store.close()
""")


def _python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    src = str(Path(__file__).parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, **kwargs)


@pytest.mark.timeout(300)
def test_eight_writing_processes_lose_nothing(tmp_path) -> None:
    path = str(tmp_path / "shared.dbm")
    procs = [_python(WRITE_ONE_ARRAY, path, str(i), stderr=subprocess.PIPE) for i in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()[-2000:]
    group = zarr.open_group(store=DBMStore(path, open=dbm.dumb.open, read_only=True), mode="r")
    assert sorted(group.array_keys()) == [f"a{i}" for i in range(8)]
    for i in range(8):
        expected = i * 1000 + np.arange(40)[:, None] + np.zeros((1, 8), dtype="int64")
        np.testing.assert_array_equal(group[f"a{i}"][...], expected)


@pytest.mark.timeout(120)
def test_a_second_writing_process_is_refused_while_readers_read(tmp_path) -> None:
    path = str(tmp_path / "held.dbm")
    holder = _python(HOLD_WRITABLE, path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        store = DBMStore(path, open=dbm.dumb.open)
        with pytest.raises(StoreLockedError) as info:
            zarr.open_group(store=store, mode="a")
        assert path in str(info.value) and f"pid {holder.pid} " in str(info.value)
        with pytest.raises(StoreLockedError, match=r"after waiting 0\.2 s"):
            zarr.open_group(store=DBMStore(path, open=dbm.dumb.open, lock_timeout=0.2), mode="a")
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(60) == 0
    reader = zarr.open_group(store=DBMStore(path, open=dbm.dumb.open, read_only=True), mode="r")
    assert reader.attrs["held"] is True
    writer = DBMStore(path, open=dbm.dumb.open)  # free again once the holder closed
    zarr.open_group(store=writer, mode="a").attrs["second"] = True
    writer.close()


def test_the_parallel_writer_writes_a_dbm_store_serially(tmp_path) -> None:
    from tests.parallel.conftest import iterator, read_back, sample_data, write

    store = DBMStore(tmp_path / "parallel.dbm", open=dbm.dumb.open)
    assert not multiprocess_safe(store)
    data = sample_data((64, 20))
    with pytest.warns(UserWarning, match="DBMStore cannot be written by several processes"):
        write(store, iterator(data), number_of_jobs=2)
    store.close()
    np.testing.assert_array_equal(read_back(DBMStore(tmp_path / "parallel.dbm", open=dbm.dumb.open,
                                                     read_only=True)), data)
