"""``set_many``: the batch writer ZarrIO uses for metadata documents and one-chunk arrays."""

from __future__ import annotations

import pytest
from zarr.core.buffer import cpu
from zarr.core.sync import sync
from zarr.storage import LocalStore, MemoryStore

from nwbzarr.storage import SQLiteStore
from nwbzarr.storage.batch import set_many
from nwbzarr.storage.h5container import H5ContainerStore

ITEMS = [(f"g{i % 7}/a{i}/c/0", cpu.Buffer.from_bytes(bytes([i % 256]) * (i + 1))) for i in range(600)]


class _CountingSQLite(SQLiteStore):
    calls = 0

    async def set_many(self, values):
        type(self).calls += 1
        await super().set_many(values)

    async def set(self, key, value):  # pragma: no cover - must not be used for a batch
        raise AssertionError("set_many wrote key by key")


def test_a_store_with_its_own_batch_write_gets_the_whole_batch(tmp_path) -> None:
    store = _CountingSQLite(tmp_path / "b.sqldb")
    sync(set_many(store, ITEMS))
    assert _CountingSQLite.calls == 1
    assert all(store.get_sync(k).to_bytes() == v.to_bytes() for k, v in ITEMS)


@pytest.mark.parametrize("make", [lambda p: H5ContainerStore(p / "h"), lambda p: MemoryStore()])
def test_batches_land_on_other_stores(tmp_path, make) -> None:
    store = make(tmp_path)
    sync(set_many(store, ITEMS))
    proto = cpu.buffer_prototype
    assert all(sync(store.get(k, proto)).to_bytes() == v.to_bytes() for k, v in ITEMS)


def test_container_store_batches_take_one_thread_call_per_core(tmp_path, monkeypatch) -> None:
    store = H5ContainerStore(tmp_path / "h")
    calls = []
    real = H5ContainerStore._set_batch_blocking
    monkeypatch.setattr(H5ContainerStore, "_set_batch_blocking", lambda self, items: calls.append(len(items))
                        or real(self, items))
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    sync(set_many(store, ITEMS))
    assert calls == [300, 300]
    calls.clear()
    sync(set_many(store, ITEMS[:70]))  # too few keys to be worth two threads
    assert calls == [70]
    assert all(store.get_sync(k).to_bytes() == v.to_bytes() for k, v in ITEMS)


@pytest.mark.parametrize(("n", "threads", "least", "expected"), [
    (0, 4, 64, []), (10, 4, 64, [10]), (130, 4, 64, [65, 65]), (1000, 3, 64, [334, 334, 332]),
])
def test_split_evenly(n, threads, least, expected) -> None:
    from nwbzarr.storage._fewfiles import split_evenly

    assert [len(run) for run in split_evenly(list(range(n)), threads, least)] == expected


@pytest.mark.parametrize("make", [lambda p: LocalStore(p / "d"), lambda p: H5ContainerStore(p / "h"),
                                  lambda p: MemoryStore()])
def test_get_many_returns_values_in_order_and_none_for_absent_keys(tmp_path, make) -> None:
    from nwbzarr.storage.batch import get_many

    store = make(tmp_path)
    sync(set_many(store, ITEMS[:50]))
    keys = [k for k, _ in ITEMS[:50]] + ["g0/missing/c/0"]
    values = sync(get_many(store, keys, cpu.buffer_prototype))
    assert [v.to_bytes() for v in values[:-1]] == [v.to_bytes() for _, v in ITEMS[:50]]
    assert values[-1] is None


def test_get_many_on_a_key_value_store_is_one_batched_call(tmp_path, monkeypatch) -> None:
    from nwbzarr.storage.batch import get_many, sync_reader

    store = SQLiteStore(tmp_path / "g.sqldb")
    sync(set_many(store, ITEMS[:20]))
    calls = []
    real = SQLiteStore._b_get_many
    monkeypatch.setattr(SQLiteStore, "_b_get_many", lambda self, reqs: calls.append(len(reqs)) or real(self, reqs))
    values = sync(get_many(store, [k for k, _ in ITEMS[:20]] + ["nope"], cpu.buffer_prototype))
    assert calls == [21]
    assert [v.to_bytes() for v in values[:-1]] == [v.to_bytes() for _, v in ITEMS[:20]] and values[-1] is None
    read = sync_reader(store)  # small reads skip the event loop on these stores too
    assert bytes(read(ITEMS[3][0])) == ITEMS[3][1].to_bytes() and read("nope") is None


def test_local_batch_replaces_an_existing_value_atomically_and_leaves_no_temporary_file(tmp_path) -> None:
    store = LocalStore(tmp_path / "d")
    sync(set_many(store, ITEMS[:5]))
    newer = [(k, cpu.Buffer.from_bytes(b"new" + v.to_bytes())) for k, v in ITEMS[:5]]
    sync(set_many(store, newer))
    assert all(store_value == value.to_bytes() for store_value, (_, value) in
               zip((sync(store.get(k, cpu.buffer_prototype)).to_bytes() for k, _ in newer), newer))
    on_disk = sorted(p.relative_to(tmp_path / "d").as_posix() for p in (tmp_path / "d").rglob("*") if p.is_file())
    assert on_disk == sorted(k for k, _ in ITEMS[:5])


def test_a_failed_write_of_a_new_name_leaves_no_torn_file(tmp_path) -> None:
    from nwbzarr.storage._files import write_new_name

    target = tmp_path / "zarr.json"
    with pytest.raises(TypeError):
        write_new_name(str(target), object())  # not bytes-like: fails after the file was created
    assert not target.exists()
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_new_name(str(target), object())
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["zarr.json"]
