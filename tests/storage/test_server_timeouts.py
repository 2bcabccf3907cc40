"""Dead and silent database servers fail fast: Redis and MongoDB stores time out after a few seconds
(configurable by constructor and URL) with an error naming the server and how to wait longer.

Real servers and sockets only: a loopback socket that accepts and never answers, a real redis-server
paused with SIGSTOP, and pymongo's real client against a closed loopback port."""

from __future__ import annotations

import pickle
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from zarr.core.buffer import default_buffer_prototype

from nwbzarr.storage import MongoDBStore, RedisStore, open_store
from nwbzarr.storage._server import ServerUnavailableError

from .conftest import _wait_for_port, free_port

SLACK = 3.0  # seconds allowed beyond the timeout (thread start-up, one quick reconnect attempt)


def _buf(data: bytes):
    return default_buffer_prototype().buffer.from_bytes(data)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port whose server accepts connections and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


@pytest.fixture
def paused_redis(tmp_path) -> Iterator[tuple[dict, subprocess.Popen]]:
    """A private redis-server (not the shared one: this test stops it) and its process."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed: apt-get install redis-server")
    port = free_port()
    cmd = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, proc)
        yield {"host": "127.0.0.1", "port": port}, proc
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)


def _fails_fast(call, timeout: float) -> ServerUnavailableError:
    start = time.monotonic()
    with pytest.raises(ServerUnavailableError) as info:
        call()
    elapsed = time.monotonic() - start
    assert elapsed < timeout + SLACK, f"took {elapsed:.1f} s with a {timeout} s timeout"
    return info.value


# ------------------------------------------------------------------------------ Redis

def test_redis_silent_server_times_out_with_default_timeout(silent_port: int) -> None:
    store = RedisStore("p", host="127.0.0.1", port=silent_port)
    err = _fails_fast(lambda: store.get_sync("zarr.json"), 5.0)
    assert f"127.0.0.1:{silent_port}" in str(err)
    assert "timeout=30" in str(err) and "?timeout=" in str(err)


@pytest.mark.parametrize("timeout", [0.5, 1.5])
def test_redis_timeout_from_url(silent_port: int, timeout: float) -> None:
    store = open_store(f"redis://127.0.0.1:{silent_port}/0?prefix=x&timeout={timeout}")
    assert isinstance(store, RedisStore) and store.timeout == timeout and store.prefix == "x"
    err = _fails_fast(lambda: store.get_sync("zarr.json"), timeout)
    assert f"timeout {timeout} s" in str(err)


async def test_redis_async_read_times_out(silent_port: int) -> None:
    store = RedisStore("p", host="127.0.0.1", port=silent_port, timeout=1)
    start = time.monotonic()
    with pytest.raises(ServerUnavailableError):
        await store.get("zarr.json", default_buffer_prototype())
    assert time.monotonic() - start < 1 + SLACK


def test_redis_paused_server_times_out_then_recovers(paused_redis) -> None:
    address, proc = paused_redis
    store = RedisStore("p", timeout=1, **address)
    store.set_sync("k", _buf(b"value"))
    proc.send_signal(signal.SIGSTOP)
    try:
        err = _fails_fast(lambda: store.get_sync("k"), 1.0)
        assert f"127.0.0.1:{address['port']}" in str(err)
        _fails_fast(lambda: store.set_sync("k2", _buf(b"v")), 1.0)
    finally:
        proc.send_signal(signal.SIGCONT)
    assert store.get_sync("k").to_bytes() == b"value"


def test_redis_server_not_running() -> None:
    store = RedisStore("p", host="127.0.0.1", port=free_port())
    err = _fails_fast(lambda: store.get_sync("k"), 0.0)
    assert "did not answer" in str(err)


def test_redis_timeout_kept_by_pickle_and_read_only_copy() -> None:
    store = RedisStore("p", host="127.0.0.1", port=1, timeout=2.5)
    assert pickle.loads(pickle.dumps(store)).timeout == 2.5
    assert store.with_read_only(True).timeout == 2.5
    assert "timeout=2.5" in repr(store)
    assert "timeout" not in repr(RedisStore("p", host="127.0.0.1", port=1))


@pytest.mark.parametrize("bad", [0, -1, "soon", float("nan"), float("inf")])
def test_bad_timeouts_rejected(bad) -> None:
    with pytest.raises(ValueError, match="timeout"):
        RedisStore("p", timeout=bad)
    with pytest.raises(ValueError, match="timeout"):
        MongoDBStore("db", "c", timeout=bad)
    with pytest.raises(ValueError, match="timeout"):
        open_store(f"redis://127.0.0.1:1/?timeout={bad}")


# ------------------------------------------------------------------------------ MongoDB (pymongo's real client)

@pytest.mark.parametrize("mode", ["r", "w"])
def test_mongodb_not_running_fails_within_timeout(mode: str) -> None:
    port = free_port()
    store = open_store(f"mongodb://127.0.0.1:{port}/db?collection=c&timeout=1", mode=mode)
    assert isinstance(store, MongoDBStore) and store.timeout == 1.0
    call = (lambda: store.get_sync("k")) if mode == "r" else (lambda: store.set_sync("k", _buf(b"v")))
    err = _fails_fast(call, 1.0)
    assert f"127.0.0.1:{port}" in str(err) and "'db'" in str(err) and "timeout=30" in str(err)


def test_mongodb_default_timeout_is_a_few_seconds() -> None:
    store = MongoDBStore("db", "c", host=f"mongodb://127.0.0.1:{free_port()}/", read_only=True)
    _fails_fast(lambda: store.get_sync("k"), 5.0)


def test_mongodb_silent_server_times_out(silent_port: int) -> None:
    store = MongoDBStore("db", "c", host=f"mongodb://127.0.0.1:{silent_port}/", read_only=True, timeout=1)
    _fails_fast(lambda: store.get_sync("k"), 1.0)


def test_mongodb_error_hides_credentials() -> None:
    store = MongoDBStore("db", "c", host=f"mongodb://alice:s3cret@127.0.0.1:{free_port()}/", timeout=0.5)
    err = _fails_fast(lambda: store.get_sync("k"), 0.5)
    assert "s3cret" not in str(err) and "alice" not in str(err)


def test_mongodb_uri_timeouts_take_precedence() -> None:
    """A timeout written in the URI wins over the store's: 1.5 s server selection despite timeout=20."""
    host = f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=1500"
    store = MongoDBStore("db", "c", host=host, timeout=20, read_only=True)
    start = time.monotonic()
    with pytest.raises(ServerUnavailableError):
        store.get_sync("k")
    assert 1.0 < time.monotonic() - start < 1.5 + SLACK


def test_nwbzarrio_on_dead_redis_fails_fast() -> None:
    from nwbzarr import NWBZarrIO

    url = f"redis://127.0.0.1:{free_port()}/0?timeout=1"
    start = time.monotonic()
    with pytest.raises(ServerUnavailableError, match="Redis server"):
        with NWBZarrIO(url, mode="r") as io:
            io.read()
    assert time.monotonic() - start < 1 + SLACK
