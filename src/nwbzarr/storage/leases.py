"""Writer locks of database stores (Redis, MongoDB): a lease record in the database that its holder renews
from a background thread, so that a killed holder's lock expires ``ttl`` seconds after it stopped."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
import warnings
from typing import Any, Protocol

from nwbzarr.storage.locks import StoreLockedError, check_lock_timeout

__all__ = ["LeaseLock", "MongoWriterLock", "RedisWriterLock"]

TTL_SECONDS = 30.0


class LeaseRecord(Protocol):
    """How one database keeps the lease: take it if free or expired, renew and drop it only if ours."""

    name: str

    def take(self, token: str, ttl: float) -> bool: ...
    def renew(self, token: str, ttl: float) -> bool: ...
    def holder(self) -> str | None: ...
    def drop(self, token: str) -> None: ...
    def close(self) -> None: ...


class LeaseLock:
    """A writer lock as a lease: ``acquire()`` waits up to ``timeout`` seconds (0: refuse at once, negative:
    for ever) and raises ``StoreLockedError`` naming the holder; a thread renews the lease every ``ttl / 3``."""

    def __init__(self, record: LeaseRecord, timeout: float = 0.0, what: str = "store", ttl: float = TTL_SECONDS,
                 poll: float = 0.1) -> None:
        self.record, self.what = record, what
        self.timeout, self.ttl, self.poll = check_lock_timeout(timeout), ttl, poll
        self.token = ""
        self._stop: threading.Event | None = None

    def acquire(self) -> LeaseLock:
        token = (f"pid {os.getpid()} on host {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"
                 f" [{uuid.uuid4().hex}]")
        deadline = time.monotonic() + self.timeout
        try:
            while not self.record.take(token, self.ttl):
                if self.timeout >= 0 and time.monotonic() >= deadline:
                    self._refuse()
                time.sleep(self.poll)
        except BaseException:
            self.record.close()
            raise
        self.token, self._stop = token, threading.Event()
        threading.Thread(target=self._renew, args=(self._stop,), name="nwbzarr-lease", daemon=True).start()
        return self

    def _refuse(self) -> None:
        holder = self.record.holder()
        holder = holder.rsplit(" [", 1)[0] if holder else "another process"
        waited = "" if self.timeout == 0 else f" after waiting {self.timeout:g} s"
        raise StoreLockedError(
            f"{self.what} is being written by {holder}{waited}: only one writer at a time (lock "
            f"{self.record.name}, which expires {self.ttl:g} s after a killed writer stopped). Close the other "
            "writer first, or pass lock_timeout=<seconds> to wait for it")

    def _renew(self, stop: threading.Event) -> None:
        while not stop.wait(self.ttl / 3):
            try:
                if not self.record.renew(self.token, self.ttl):
                    warnings.warn(f"the writer lock {self.record.name} of {self.what} expired while held",
                                  stacklevel=1)
                    return
            except Exception:  # a brief outage: the next renewal tries again before the lease expires
                continue

    def release(self) -> None:
        if self._stop is None:
            return
        self._stop.set()
        self._stop = None
        try:
            self.record.drop(self.token)
        finally:
            self.record.close()


class _RedisLease:
    """The lease as one Redis key: ``SET NX PX``; renew and drop compare the token first (Lua, atomic)."""

    RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
             "end return 0")
    DROP = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def __init__(self, client: Any, key: str) -> None:
        self.client, self.key, self.name = client, key, f"key {key!r}"

    def take(self, token: str, ttl: float) -> bool:
        return bool(self.client.set(self.key, token, nx=True, px=int(ttl * 1000)))

    def renew(self, token: str, ttl: float) -> bool:
        return bool(self.client.eval(self.RENEW, 1, self.key, token, int(ttl * 1000)))

    def holder(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode("utf-8", "replace") if value else None

    def drop(self, token: str) -> None:
        self.client.eval(self.DROP, 1, self.key, token)

    def close(self) -> None:
        self.client.close()


class _MongoLease:
    """The lease as the document ``{_id: "writer"}`` of a collection: the unique ``_id`` makes taking it
    atomic; an expired lease (by the clocks of the writers' hosts) is deleted before taking."""

    def __init__(self, client: Any, collection: Any) -> None:
        self.client, self.collection = client, collection
        self.name = f"document 'writer' of collection {collection.full_name!r}"

    def take(self, token: str, ttl: float) -> bool:
        from pymongo.errors import DuplicateKeyError

        now = time.time()
        self.collection.delete_one({"_id": "writer", "expires": {"$lt": now}})
        try:
            self.collection.insert_one({"_id": "writer", "token": token, "expires": now + ttl})
        except DuplicateKeyError:
            return False
        return True

    def renew(self, token: str, ttl: float) -> bool:
        found = self.collection.update_one({"_id": "writer", "token": token},
                                           {"$set": {"expires": time.time() + ttl}})
        return found.matched_count == 1

    def holder(self) -> str | None:
        doc = self.collection.find_one({"_id": "writer"})
        return doc["token"] if doc else None

    def drop(self, token: str) -> None:
        self.collection.delete_one({"_id": "writer", "token": token})

    def close(self) -> None:
        self.client.close()


def RedisWriterLock(client: Any, key: str, timeout: float = 0.0, what: str = "Redis store",
                    ttl: float = TTL_SECONDS) -> LeaseLock:
    """The writer lock of a Redis store: the key ``key`` (give a client of its own: release closes it)."""
    return LeaseLock(_RedisLease(client, key), timeout, what, ttl)


def MongoWriterLock(client: Any, collection: Any, timeout: float = 0.0, what: str = "MongoDB store",
                    ttl: float = TTL_SECONDS) -> LeaseLock:
    """The writer lock of a MongoDB store: a document in ``collection`` (a client of its own, closed at release)."""
    return LeaseLock(_MongoLease(client, collection), timeout, what, ttl)
