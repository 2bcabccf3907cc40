"""MongoDB store: documents ``{key, value}`` as in zarr 2's MongoDBStore; large values split."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from zarr.abc.store import ByteRequest

from nwbzarr.storage._server import (
    DEFAULT_TIMEOUT,
    ServerUnavailableError,
    check_timeout,
    guard_backend_calls,
    safe_address,
)
from nwbzarr.storage.base import BytesLike, SyncBackendStore, prefix_upper_bound, resolve_range

__all__ = ["MongoDBStore"]

INLINE_LIMIT = 15 * 2**20  # MongoDB documents are limited to 16 MiB, with room for the key
PART_SIZE = 8 * 2**20


def _key_range(prefix: str) -> dict[str, Any]:
    upper = prefix_upper_bound(prefix)
    cond: dict[str, Any] = {"$gte": prefix}
    if upper is not None:
        cond["$lt"] = upper
    return {"key": cond}


_TIMEOUT_OPTIONS = ("serverSelectionTimeoutMS", "connectTimeoutMS", "socketTimeoutMS")


def _given_options(client_kwargs: dict[str, Any]) -> set[str]:
    """Lower-cased option names set by keyword or in the query of a ``mongodb://`` host URI."""
    given = {k.lower() for k in client_kwargs}
    hosts = client_kwargs.get("host")
    for host in hosts if isinstance(hosts, list) else [hosts]:
        if isinstance(host, str) and "?" in host:
            given |= {part.split("=", 1)[0].lower() for part in host.split("?", 1)[1].split("&")}
    return given


def _default_client(**kwargs: Any) -> Any:
    try:
        import pymongo
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("MongoDBStore needs the 'pymongo' package: pip install nwbzarr[stores]") from err
    return pymongo.MongoClient(**kwargs)


@guard_backend_calls
class MongoDBStore(SyncBackendStore):
    """A zarr store in a MongoDB collection (one document per key, unique index on ``key``).

    Values above 15 MiB are split into 8 MiB parts in ``<collection>.parts``; the main document
    names the parts' version, so readers never see a half-written value. Concurrency: threads and
    processes writing disjoint keys (every document write is atomic). ``client_factory`` builds the
    client from ``client_kwargs`` (default ``pymongo.MongoClient``). ``timeout`` (seconds, default 5)
    bounds finding the server, connecting and each answer (pymongo's ``serverSelectionTimeoutMS``,
    ``connectTimeoutMS`` and ``socketTimeoutMS``, unless given in ``client_kwargs`` or the URI); a server
    that is down or silent raises :class:`ServerUnavailableError` naming it. A writing ZarrIO holds the
    lease document ``{_id: "writer"}`` in ``<collection>.locks`` (``acquire_writer_lock``).
    """

    supports_multiprocess_writes = False  # not vouched for: parallel writers fall back to serial
    supports_fork = True

    def __init__(
        self,
        database: str = "mongodb_zarr",
        collection: str = "zarr_collection",
        *,
        client_factory: Callable[..., Any] | None = None,
        read_only: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        **client_kwargs: Any,
    ) -> None:
        super().__init__(read_only=read_only)
        self.timeout = check_timeout(timeout)
        if not database or not collection:
            raise ValueError("MongoDBStore needs non-empty database and collection names")
        self.database, self.collection = database, collection
        self.client_factory = client_factory or _default_client
        self.client_kwargs = dict(sorted(client_kwargs.items()))
        self._client: Any = None

    def _config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"database": self.database, "collection": self.collection}
        if self.client_factory is not _default_client:
            cfg["client_factory"] = self.client_factory
        if self.timeout != DEFAULT_TIMEOUT:
            cfg["timeout"] = self.timeout
        return {**cfg, **self.client_kwargs}

    def _full_client_kwargs(self) -> dict[str, Any]:
        """``client_kwargs`` completed with this store's timeouts where neither they nor the URI set one."""
        given = _given_options(self.client_kwargs)
        millis = int(self.timeout * 1000)
        timeouts = {name: millis for name in _TIMEOUT_OPTIONS if name.lower() not in given}
        return {**timeouts, **self.client_kwargs}

    @staticmethod
    def _server_errors() -> tuple[type[BaseException], ...]:
        try:
            from pymongo.errors import ConnectionFailure
        except ImportError:  # pragma: no cover - a custom client_factory without pymongo
            return ()
        return (ConnectionFailure,)

    def _server_error(self, exc: BaseException) -> ServerUnavailableError:
        host = self.client_kwargs.get("host") or "localhost:27017"
        where = ", ".join(safe_address(h) for h in (host if isinstance(host, list) else [host]))
        first_line = re.split(r" \(configured timeouts|, Timeout: ", str(exc), maxsplit=1)[0]
        return ServerUnavailableError(
            f"MongoDB server {where} (database {self.database!r}, collection {self.collection!r}) did not answer: "
            f"{first_line} (timeout {self.timeout} s). Check that the server runs and is reachable; a slow server "
            f"needs a longer timeout: MongoDBStore(..., timeout=30) or mongodb://host/db?timeout=30"
        )

    def _b_open(self) -> None:
        kwargs = self._full_client_kwargs() if self.client_factory is _default_client else self.client_kwargs
        self._client = self.client_factory(**kwargs)
        db = self._client[self.database]
        self._docs, self._parts = db[self.collection], db[self.collection + ".parts"]
        if not self.read_only:
            self._docs.create_index("key", unique=True)
            self._parts.create_index([("key", 1), ("version", 1), ("n", 1)])

    def acquire_writer_lock(self, timeout: float = 0.0) -> Any:
        """The store's writer lock (ZarrIO holds it from open to close): the document ``{_id: "writer"}`` of
        ``<collection>.locks``, expiring 30 s after a killed holder stopped renewing it."""
        from nwbzarr.storage.leases import MongoWriterLock

        client = self.client_factory(**self.client_kwargs)
        locks = client[self.database][self.collection + ".locks"]
        what = f"the MongoDB collection {self.database}.{self.collection}"
        return MongoWriterLock(client, locks, timeout, what).acquire()

    def _b_close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------ reads

    def _read_parts(self, doc: dict[str, Any], byte_range: ByteRequest | None) -> bytes | None:
        start, stop = resolve_range(doc["size"], byte_range)
        first, last = start // PART_SIZE, max(start, stop - 1) // PART_SIZE
        query = {"key": doc["key"], "version": doc["version"], "n": {"$gte": first, "$lte": last}}
        parts = list(self._parts.find(query).sort("n", 1))
        if len(parts) != last - first + 1:
            return None  # replaced concurrently; the caller re-reads the main document
        data = b"".join(bytes(p["data"]) for p in parts)
        offset = first * PART_SIZE
        return data[start - offset : stop - offset]

    def _b_get(self, key: str, byte_range: ByteRequest | None) -> BytesLike | None:
        for _ in range(3):
            doc = self._docs.find_one({"key": key})
            if doc is None:
                return None
            if doc.get("version") is None:
                value = bytes(doc["value"])
                start, stop = resolve_range(len(value), byte_range)
                return value[start:stop]
            data = self._read_parts(doc, byte_range)
            if data is not None:
                return data
        raise RuntimeError(f"value of {key!r} kept changing while being read")

    def _b_size(self, key: str) -> int | None:
        doc = self._docs.find_one({"key": key}, {"size": 1, "value": 1})
        if doc is None:
            return None
        return int(doc["size"]) if "size" in doc else len(doc["value"])

    def _b_exists(self, key: str) -> bool:
        return self._docs.count_documents({"key": key}, limit=1) > 0

    # ------------------------------------------------------------ writes

    def _document(self, key: str, data: BytesLike) -> dict[str, Any]:
        """The main document for a value, writing its parts first if it is too large to inline."""
        if len(data) <= INLINE_LIMIT:
            return {"key": key, "value": bytes(data), "size": len(data)}
        version = uuid.uuid4().hex
        view = memoryview(data)
        parts = [
            {"key": key, "version": version, "n": i, "data": bytes(view[off : off + PART_SIZE])}
            for i, off in enumerate(range(0, len(data), PART_SIZE))
        ]
        for part in parts:
            self._parts.insert_one(part)
        return {"key": key, "value": None, "size": len(data), "version": version}

    def _b_set(self, key: str, data: BytesLike) -> None:
        old = self._docs.find_one_and_replace({"key": key}, self._document(key, data), upsert=True)
        self._drop_parts(old)

    def _drop_parts(self, old: dict[str, Any] | None) -> None:
        """Delete the parts of a replaced or deleted split value."""
        if old is not None and old.get("version") is not None:
            self._parts.delete_many({"key": old["key"], "version": old["version"]})

    def _b_set_if_absent(self, key: str, data: BytesLike) -> None:
        if len(data) <= INLINE_LIMIT:
            doc = self._document(key, data)
            self._docs.update_one({"key": key}, {"$setOnInsert": doc}, upsert=True)
        elif not self._b_exists(key):
            self._b_set(key, data)

    def _b_delete(self, key: str) -> None:
        self._drop_parts(self._docs.find_one_and_delete({"key": key}))

    def _b_delete_prefix(self, prefix: str) -> None:
        self._docs.delete_many(_key_range(prefix))
        self._parts.delete_many(_key_range(prefix))

    # ------------------------------------------------------------ listing

    def _b_list_prefix(self, prefix: str) -> list[str]:
        cursor = self._docs.find(_key_range(prefix), {"key": 1, "_id": 0}).sort("key", 1)
        return [doc["key"] for doc in cursor]

    def _b_any_with_prefix(self, prefix: str) -> bool:
        return self._docs.count_documents(_key_range(prefix), limit=1) > 0
