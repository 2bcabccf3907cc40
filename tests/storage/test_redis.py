"""RedisStore against zarr's StoreTests, on a real redis-server started on loopback (conftest)."""

from __future__ import annotations

import pytest
import redis
from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.testing.store import StoreTests

from nwbzarr.storage import RedisStore


def _client(store: RedisStore) -> redis.Redis:
    kw = dict(store.redis_kwargs.items())
    return redis.Redis(**kw)


class TestRedisStore(StoreTests[RedisStore, cpu.Buffer]):
    store_cls = RedisStore
    buffer_cls = cpu.Buffer

    async def set(self, store: RedisStore, key: str, value: cpu.Buffer) -> None:
        _client(store).set(f"{store.prefix}:{key}", value.to_bytes())

    async def get(self, store: RedisStore, key: str) -> cpu.Buffer:
        return self.buffer_cls.from_bytes(_client(store).get(f"{store.prefix}:{key}"))

    @pytest.fixture
    def store_kwargs(self, redis_kwargs: dict) -> dict:
        return redis_kwargs

    def test_store_repr(self, store: RedisStore) -> None:
        kw = store.redis_kwargs
        assert repr(store) == (
            f"RedisStore(prefix={store.prefix!r}, host='127.0.0.1', port={kw['port']}, read_only=False)"
        )

    def test_store_supports_writes(self, store: RedisStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: RedisStore) -> None:
        assert store.supports_listing


async def test_prefixes_isolate_stores(redis_kwargs: dict) -> None:
    """Two prefixes on one server never see each other's keys; glob characters are literal."""
    a = await RedisStore.open(**redis_kwargs)
    b = await RedisStore.open(**{**redis_kwargs, "prefix": redis_kwargs["prefix"] + "*"})
    await a.set("x/zarr.json", cpu.Buffer.from_bytes(b"a"))
    await b.set("x/zarr.json", cpu.Buffer.from_bytes(b"b"))
    await a.set("[x]/?", cpu.Buffer.from_bytes(b"c"))
    assert sorted([k async for k in a.list()]) == ["[x]/?", "x/zarr.json"]
    assert [k async for k in b.list()] == ["x/zarr.json"]
    assert [k async for k in a.list_prefix("[x]/")] == ["[x]/?"]
    await b.clear()
    assert (await a.get("x/zarr.json", default_buffer_prototype())).to_bytes() == b"a"
    await a.clear()


async def test_many_keys_listed_with_scan(redis_kwargs: dict) -> None:
    store = await RedisStore.open(**redis_kwargs)
    await store._set_many((f"c/{i}", cpu.Buffer.from_bytes(b"v")) for i in range(2500))
    assert len([k async for k in store.list_prefix("c/")]) == 2500
    await store.delete_dir("c")
    assert await store.is_empty("")


async def test_unreachable_server_is_a_clear_error() -> None:
    from tests.storage.conftest import free_port

    from nwbzarr.storage._server import ServerUnavailableError

    store = RedisStore(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    with pytest.raises(ServerUnavailableError, match="Redis server 127.0.0.1:"):
        await store.get("zarr.json")
