"""Redis store: keys ``{prefix}:{key}`` as in zarr 2's RedisStore; SCAN (never KEYS), pipelines."""

from __future__ import annotations

from typing import Any

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, SuffixByteRequest

from nwbzarr.storage._server import (
    DEFAULT_TIMEOUT,
    ServerUnavailableError,
    check_timeout,
    guard_backend_calls,
)
from nwbzarr.storage.base import BytesLike, SyncBackendStore

__all__ = ["RedisStore"]

_MAX_VALUE = 512 * 2**20  # Redis' limit for one string value
_BATCH = 1000


def _glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so SCAN MATCH treats them literally."""
    return "".join("\\" + c if c in "\\*?[]^" else c for c in text)


@guard_backend_calls
class RedisStore(SyncBackendStore):
    """A zarr store in a Redis database, all keys under ``prefix:``.

    ``redis_kwargs`` go to ``redis.Redis`` (host, port, db, password, ...). ``timeout`` (seconds, default
    5) bounds connecting and each answer; a timeout is not retried, a dropped connection is retried once,
    and either raises :class:`ServerUnavailableError` naming the server (``socket_timeout`` /
    ``socket_connect_timeout`` / ``retry`` in ``redis_kwargs`` take precedence). Concurrency: threads
    and processes (Redis executes commands atomically; range reads and multi-gets are MULTI/EXEC
    pipelines). A writer killed mid-write cannot corrupt other values: every SET is atomic.
    Listing uses incremental SCAN so the server is never blocked. Values are limited to 512 MiB.
    A writing ZarrIO holds the lock key ``{prefix}.nwbzarr-lock`` (``acquire_writer_lock``).
    """

    supports_multiprocess_writes = True  # the server serialises writers
    supports_fork = True  # a forked copy opens its own connection

    def __init__(self, prefix: str = "zarr", *, read_only: bool = False, timeout: float = DEFAULT_TIMEOUT,
                 **redis_kwargs: Any) -> None:
        super().__init__(read_only=read_only)
        if not isinstance(prefix, str):
            raise TypeError(f"RedisStore prefix must be str, got {type(prefix).__name__}")
        self.prefix = prefix
        self.timeout = check_timeout(timeout)
        self.redis_kwargs = dict(sorted(redis_kwargs.items()))
        self._client: Any = None

    def _config(self) -> dict[str, Any]:
        timeout = {} if self.timeout == DEFAULT_TIMEOUT else {"timeout": self.timeout}
        return {"prefix": self.prefix, **timeout, **self.redis_kwargs}

    def _client_kwargs(self) -> dict[str, Any]:
        """``redis_kwargs`` completed with this store's timeouts and its retry policy."""
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.retry import Retry

        defaults = {"socket_timeout": self.timeout, "socket_connect_timeout": self.timeout,
                    "retry": Retry(ExponentialBackoff(cap=1.0, base=0.1), 1, (RedisConnectionError,))}
        return {**defaults, **self.redis_kwargs}

    def _b_open(self) -> None:
        try:
            import redis
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("RedisStore needs the 'redis' package: pip install nwbzarr[stores]") from err
        self._client = redis.Redis(**self._client_kwargs())
        self._client.ping()

    def acquire_writer_lock(self, timeout: float = 0.0) -> Any:
        """The store's writer lock (ZarrIO holds it from open to close): the key ``{prefix}.nwbzarr-lock``,
        outside the store's keys, expiring 30 s after a killed holder stopped renewing it."""
        import redis

        from nwbzarr.storage.leases import RedisWriterLock

        what = f"the Redis store {self.prefix!r} on {self.redis_kwargs.get('host', 'localhost')}"
        client = redis.Redis(**self._client_kwargs())
        return RedisWriterLock(client, f"{self.prefix}.nwbzarr-lock", timeout, what).acquire()

    @staticmethod
    def _server_errors() -> tuple[type[BaseException], ...]:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        return (RedisConnectionError, RedisTimeoutError)

    def _server_error(self, exc: BaseException) -> ServerUnavailableError:
        kw = self.redis_kwargs
        where = kw.get("unix_socket_path") or f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}"
        waited = kw.get("socket_timeout", self.timeout)
        return ServerUnavailableError(
            f"Redis server {where} (store prefix {self.prefix!r}) did not answer: {exc} (timeout {waited} s). "
            f"Check that the server runs and is reachable; a slow server needs a longer timeout: "
            f"RedisStore(..., timeout=30) or redis://{where}/?timeout=30"
        )

    def _b_close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _k(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    # ------------------------------------------------------------ reads

    @staticmethod
    def _queue_read(pipe: Any, name: str, byte_range: ByteRequest | None) -> None:
        """Queue the commands answering one (key, range) request: EXISTS then GET/GETRANGE."""
        pipe.exists(name)
        if byte_range is None:
            pipe.get(name)
        elif isinstance(byte_range, RangeByteRequest):
            if byte_range.end > byte_range.start:
                pipe.getrange(name, byte_range.start, byte_range.end - 1)
            else:
                pipe.echo(b"")
        elif isinstance(byte_range, OffsetByteRequest):
            pipe.getrange(name, byte_range.offset, -1)
        elif isinstance(byte_range, SuffixByteRequest):
            if byte_range.suffix > 0:
                pipe.getrange(name, -byte_range.suffix, -1)
            else:
                pipe.echo(b"")

    def _b_get_many(self, requests: list[tuple[str, ByteRequest | None]]) -> list[BytesLike | None]:
        pipe = self._client.pipeline(transaction=True)
        for key, byte_range in requests:
            self._queue_read(pipe, self._k(key), byte_range)
        replies = pipe.execute()
        return [value if exists else None for exists, value in zip(replies[::2], replies[1::2])]

    def _b_get(self, key: str, byte_range: ByteRequest | None) -> BytesLike | None:
        if byte_range is None:
            return self._client.get(self._k(key))
        return self._b_get_many([(key, byte_range)])[0]

    def _b_exists(self, key: str) -> bool:
        return bool(self._client.exists(self._k(key)))

    def _b_size(self, key: str) -> int | None:
        pipe = self._client.pipeline(transaction=True)
        pipe.exists(self._k(key))
        pipe.strlen(self._k(key))
        exists, size = pipe.execute()
        return int(size) if exists else None

    # ------------------------------------------------------------ writes

    def _checked(self, key: str, data: BytesLike) -> BytesLike:
        if len(data) > _MAX_VALUE:
            raise ValueError(f"value for {key!r} is {len(data)} bytes; Redis stores at most 512 MiB per key")
        return data

    def _b_set(self, key: str, data: BytesLike) -> None:
        self._client.set(self._k(key), self._checked(key, data))

    def _b_set_many(self, items: list[tuple[str, BytesLike]]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for key, data in items:
            pipe.set(self._k(key), self._checked(key, data))
        pipe.execute()

    def _b_set_if_absent(self, key: str, data: BytesLike) -> None:
        self._client.set(self._k(key), self._checked(key, data), nx=True)

    def _b_delete(self, key: str) -> None:
        self._client.delete(self._k(key))

    # ------------------------------------------------------------ listing

    def _scan(self, prefix: str) -> Any:
        pattern = _glob_escape(self._k(prefix)) + "*"
        return self._client.scan_iter(match=pattern, count=_BATCH)

    def _b_list_prefix(self, prefix: str) -> list[str]:
        strip = len(self._k("").encode("utf-8"))
        return sorted({name[strip:].decode("utf-8") for name in self._scan(prefix)})

    def _b_any_with_prefix(self, prefix: str) -> bool:
        return any(True for _ in self._scan(prefix))

    def _b_delete_prefix(self, prefix: str) -> None:
        batch: list[bytes] = []
        for name in self._scan(prefix):
            batch.append(name)
            if len(batch) >= _BATCH:
                self._client.unlink(*batch)
                batch.clear()
        if batch:
            self._client.unlink(*batch)
