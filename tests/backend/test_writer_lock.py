"""One writer per store (issue 14, point 7): writable modes hold a writer lock from open to close, so two
processes appending to one file at once are serialized (both objects visible in modes r and r-), or the
second one is refused with an error naming the file and the holder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBFile, TimeSeries
from tests.storage.conftest import redis_kwargs, redis_server  # noqa: F401  (fixtures)

from nwbzarr import NWBZarrIO
from nwbzarr.storage.locks import StoreLockedError, lock_path

pytestmark = pytest.mark.timeout(300)

SRC = str(Path(__file__).parents[2] / "src")
STORE_NAMES = {"directory": "session.nwb.zarr", "sqlite": "session.sqlite", "redis": None}

APPEND = textwrap.dedent("""
    import sys, time
    import numpy as np
    from pynwb import TimeSeries
    from nwbzarr import NWBZarrIO
    store, name, value = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with NWBZarrIO(store, mode="a", lock_timeout=120) as io:
        nwb = io.read()
        time.sleep(1.0)  # both appenders would have read the same state by now, were they not serialized
        nwb.add_acquisition(TimeSeries(name=name, data=np.full(5, value, dtype="int32"), unit="V", rate=1.0))
        io.write(nwb)
""")

HOLD = textwrap.dedent("""
    import sys
    from nwbzarr import NWBZarrIO
    with NWBZarrIO(sys.argv[1], mode="a"):
        print("holding", flush=True)
        sys.stdin.readline()
""")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}


def _python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], env=_env(), **kwargs)


def _new_file(path: Path | str) -> None:
    nwb = NWBFile(session_description="locks", identifier="locks",
                  session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    nwb.add_acquisition(TimeSeries(name="first", data=np.arange(5, dtype="int32"), unit="V", rate=1.0))
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwb)


@pytest.fixture(params=sorted(STORE_NAMES))
def store(request, tmp_path) -> Path | str:
    """A new NWB file: a directory, an SQLite file, or a Redis URL (a key prefix of its own)."""
    if request.param == "redis":
        kwargs = request.getfixturevalue("redis_kwargs")
        path = f"redis://{kwargs['host']}:{kwargs['port']}/0?prefix={kwargs['prefix']}"
    else:
        path = tmp_path / STORE_NAMES[request.param]
    _new_file(path)
    return path


def _names_store(message: str, store: Path | str) -> bool:
    if isinstance(store, str):  # redis: the prefix and the host
        prefix = store.rsplit("prefix=", 1)[1]
        return repr(prefix) in message and "127.0.0.1" in message
    return str(store) in message


@pytest.fixture
def holder(store):
    """Another process that holds the store open in mode 'a' until the test ends."""
    proc = _python(HOLD, str(store), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    yield proc
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(60) == 0


def test_two_processes_appending_at_once_both_objects_are_visible_in_r_and_r_minus(store) -> None:
    procs = [_python(APPEND, str(store), f"added_{i}", str(10 + i), stderr=subprocess.PIPE) for i in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()[-3000:]
    for mode in ("r", "r-"):
        with NWBZarrIO(store, mode=mode) as io:
            acquisition = io.read().acquisition
            assert set(acquisition) == {"first", "added_0", "added_1"}, mode
            for i in range(2):
                np.testing.assert_array_equal(acquisition[f"added_{i}"].data[:], np.full(5, 10 + i))


@pytest.mark.parametrize("mode", ["a", "r+", "w"])
def test_a_second_writer_is_refused_naming_the_file_and_the_holder(store, holder, mode) -> None:
    with pytest.raises(StoreLockedError) as info:
        NWBZarrIO(store, mode=mode)
    message = str(info.value)
    assert _names_store(message, store) and f"pid {holder.pid} " in message and "lock_timeout" in message
    with NWBZarrIO(store, mode="r") as io:  # readers take no lock; the refused 'w' cleared nothing
        assert set(io.read().acquisition) == {"first"}


def test_a_waiting_writer_gives_up_after_its_timeout(store, holder) -> None:
    with pytest.raises(StoreLockedError, match=r"after waiting 0\.3 s"):
        NWBZarrIO(store, mode="a", lock_timeout=0.3)


def test_the_lock_is_released_at_close_and_after_a_failed_open(tmp_path) -> None:
    path = tmp_path / "s.nwb.zarr"
    _new_file(path)
    with NWBZarrIO(path, mode="a"):
        with pytest.raises(StoreLockedError):  # a second writer in the same process is refused too
            NWBZarrIO(path, mode="r+")
    with pytest.raises(FileExistsError):
        NWBZarrIO(path, mode="w-")
    with NWBZarrIO(path, mode="r+") as io:
        assert "first" in io.read().acquisition
    assert os.path.exists(lock_path(path)) and not os.path.exists(path / os.path.basename(lock_path(path)))


@pytest.mark.parametrize("timeout", ["5", None, True])
def test_lock_timeout_must_be_seconds(tmp_path, timeout) -> None:
    with pytest.raises(TypeError, match="lock timeout must be a number of seconds"):
        NWBZarrIO(tmp_path / "new.nwb.zarr", mode="w", lock_timeout=timeout)


HOLD_REDIS_LOCK = textwrap.dedent("""
    import sys, time
    import redis
    from nwbzarr.storage.leases import RedisWriterLock
    lock = RedisWriterLock(redis.Redis(host=sys.argv[1], port=int(sys.argv[2])), sys.argv[3], ttl=1.5)
    lock.acquire()
    print("holding", flush=True)
    time.sleep(600)
""")


def test_a_killed_redis_writer_frees_its_lock_key_when_it_expires(request) -> None:
    import redis

    from nwbzarr.storage.leases import RedisWriterLock

    server = request.getfixturevalue("redis_kwargs")
    key = f"{server['prefix']}.nwbzarr-lock"
    holder = _python(HOLD_REDIS_LOCK, server["host"], str(server["port"]), key,
                     stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        time.sleep(2.0)  # longer than the key's lifetime: the holder's thread renews it
        client = redis.Redis(host=server["host"], port=server["port"])
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid} "):
            RedisWriterLock(client, key, timeout=0).acquire()
        holder.kill()
        holder.wait(10)
        started = time.monotonic()
        lock = RedisWriterLock(redis.Redis(host=server["host"], port=server["port"]), key, timeout=10)
        lock.acquire()
        assert time.monotonic() - started < 3.0
        lock.release()
        assert client.get(key) is None
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_mongodb_writers_share_a_lease_document_that_expires_when_not_renewed(tmp_path) -> None:
    """(mongomock: no MongoDB server can run here, so one process stands in for two writers.)"""
    import mongomock

    from nwbzarr.storage import MongoDBStore
    from nwbzarr.storage.leases import MongoWriterLock

    client = mongomock.MongoClient()

    def store() -> MongoDBStore:
        return MongoDBStore("locks", "session", client_factory=lambda **_: client)

    _new_file(store())
    with NWBZarrIO(store(), mode="a"):
        with pytest.raises(StoreLockedError, match=rf"MongoDB collection locks\.session is being written by "
                                                   rf"pid {os.getpid()} "):
            NWBZarrIO(store(), mode="r+")
        with NWBZarrIO(store(), mode="r") as reader:
            assert set(reader.read().acquisition) == {"first"}
    with NWBZarrIO(store(), mode="a") as io:  # released at close
        assert "first" in io.read().acquisition

    locks = client["locks"]["session.locks"]
    stale = MongoWriterLock(client, locks, ttl=0.5).acquire()
    stale._stop.set()  # as if its process were killed: no more renewals, no release
    with pytest.raises(StoreLockedError):
        MongoWriterLock(client, locks, timeout=0, ttl=0.5).acquire()
    MongoWriterLock(client, locks, timeout=5, ttl=0.5).acquire().release()
    assert locks.find_one({"_id": "writer"}) is None
