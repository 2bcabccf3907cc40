"""MongoDBStore against zarr's StoreTests.

No MongoDB server can be installed on the test machines, so these tests run on **mongomock**
(an in-process fake of pymongo's API), shared by every store in this process through
``shared_mock_client``. They check the store's logic, not a real server's behaviour.
"""

from __future__ import annotations

import mongomock
import pytest
from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.testing.store import StoreTests

from nwbzarr.storage import MongoDBStore
from nwbzarr.storage import mongodb as mongomod

_CLIENT = mongomock.MongoClient()


def shared_mock_client(**kwargs) -> mongomock.MongoClient:
    """One mongomock client for the whole process (mongomock clients do not share data)."""
    return _CLIENT


class TestMongoDBStore(StoreTests[MongoDBStore, cpu.Buffer]):
    store_cls = MongoDBStore
    buffer_cls = cpu.Buffer

    async def set(self, store: MongoDBStore, key: str, value: cpu.Buffer) -> None:
        coll = _CLIENT[store.database][store.collection]
        coll.replace_one({"key": key}, {"key": key, "value": value.to_bytes()}, upsert=True)

    async def get(self, store: MongoDBStore, key: str) -> cpu.Buffer:
        doc = _CLIENT[store.database][store.collection].find_one({"key": key})
        return self.buffer_cls.from_bytes(doc["value"])

    @pytest.fixture
    def store_kwargs(self, request) -> dict:
        name = f"c{abs(hash(request.node.nodeid))}"
        _CLIENT["zarrtest"].drop_collection(name)
        return {"database": "zarrtest", "collection": name, "client_factory": shared_mock_client}

    def test_store_repr(self, store: MongoDBStore) -> None:
        assert repr(store).startswith(f"MongoDBStore(database='zarrtest', collection={store.collection!r}")

    def test_store_supports_writes(self, store: MongoDBStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: MongoDBStore) -> None:
        assert store.supports_listing


@pytest.fixture
def small_parts(monkeypatch):
    """Shrink the inline limit so splitting is exercised with small values."""
    monkeypatch.setattr(mongomod, "INLINE_LIMIT", 100)
    monkeypatch.setattr(mongomod, "PART_SIZE", 64)


async def test_large_values_are_split_and_ranges_read_parts(small_parts) -> None:
    store = await MongoDBStore.open("zarrtest", "split", client_factory=shared_mock_client)
    await store.clear()
    data = bytes(range(256)) * 3
    await store.set("big", cpu.Buffer.from_bytes(data))
    parts = _CLIENT["zarrtest"]["split.parts"]
    assert parts.count_documents({"key": "big"}) == 12
    proto = default_buffer_prototype()
    assert (await store.get("big", proto)).to_bytes() == data
    from zarr.abc.store import RangeByteRequest, SuffixByteRequest

    assert (await store.get("big", proto, RangeByteRequest(60, 200))).to_bytes() == data[60:200]
    assert (await store.get("big", proto, SuffixByteRequest(5))).to_bytes() == data[-5:]
    assert await store.getsize("big") == len(data)
    await store.set("big", cpu.Buffer.from_bytes(b"small now"))
    assert parts.count_documents({"key": "big"}) == 0
    assert (await store.get("big", proto)).to_bytes() == b"small now"


def test_empty_names_refused() -> None:
    with pytest.raises(ValueError, match="non-empty database and collection"):
        MongoDBStore("", "x")
