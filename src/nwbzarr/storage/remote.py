"""One bounded request path for remote stores, and the HTTP client options that retry transient errors.

Every read nwbzarr issues to a remote store (chunks, metadata documents, scalars, cached specs) takes a slot
of ONE limit per event loop, so a server never sees more concurrent requests than zarr's
``async.concurrency`` (``zarr.config.set({"async.concurrency": n})``; read when a batch starts, so a change
takes effect on the next read). Local stores (directories, zip files, key-value databases, memory) take no
slot: their fast paths stay as they are.

Transient HTTP errors (429, 5xx, refused or reset connections) are retried with backoff by the aiohttp
client fsspec's HTTPFileSystem uses (a client middleware, since aiohttp itself has no retry option); a
permanent error (403, 404 on a document, ...) is raised at once by fsspec, naming the URL and the status.
s3fs retries S3 throttling and 5xx itself (its ``retries`` option).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import zarr
from zarr.abc.store import Store
from zarr.storage import FsspecStore, LocalStore, ObjectStore, WrapperStore

from nwbzarr._private_api import wrapped_store

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})  # answers worth another try
HTTP_ATTEMPTS = 6  # tries of one request before its error is raised
BACKOFF_SECONDS = 0.05  # first wait; doubled after every failed try (0.05, 0.1, ... 1.6 s)
MAX_RETRY_AFTER = 10.0  # a server's Retry-After is honoured up to this many seconds

_REMOTE_STORES = (FsspecStore, ObjectStore)
_LIMITS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[int, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary())


def request_limit() -> int:
    """How many requests to a remote store may be in flight at once: zarr's ``async.concurrency``."""
    limit = int(zarr.config.get("async.concurrency") or 10)
    if limit < 1:
        raise ValueError(f"zarr.config 'async.concurrency' must be a positive number, got {limit}")
    return limit


def _semaphore() -> asyncio.Semaphore:
    """The running loop's shared semaphore (a new one when ``async.concurrency`` changed since)."""
    loop = asyncio.get_running_loop()
    limit = request_limit()
    held = _LIMITS.get(loop)
    if held is None or held[0] != limit:
        held = (limit, asyncio.Semaphore(limit))
        _LIMITS[loop] = held
    return held[1]


def is_remote(store: Store) -> bool:
    """True for stores whose every read is a network request (fsspec's and obstore's), looking through
    wrappers (a cache, zarr's WrapperStore)."""
    if type(store) is LocalStore:  # the common case, first
        return False
    seen = 0
    while seen < 8:  # wrappers keep the wrapped store in ``_store``
        if isinstance(store, _REMOTE_STORES):
            return True
        inner = wrapped_store(store)
        if not isinstance(inner, Store):
            return False
        store, seen = inner, seen + 1
    return False


@asynccontextmanager
async def _slot() -> AsyncIterator[None]:
    async with _semaphore():
        yield


def request_slot(store: Store) -> Any:
    """``async with request_slot(store):`` around ONE request (never around code that takes another slot):
    waits for a slot of the shared limit when ``store`` is remote, does nothing for local stores."""
    return _slot() if is_remote(store) else nullcontext()


class RequestLimitedStore(WrapperStore):
    """A remote store whose every read takes a slot of the shared limit: what zarr's own ``AsyncArray``
    reads (text and compound datasets, sharded chunks) go through, see ``limited``."""

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        async with _slot():
            return await self._store.get(key, prototype, byte_range)

    async def get_partial_values(self, prototype: Any, key_ranges: Any) -> list[Any]:
        async with _slot():
            return await self._store.get_partial_values(prototype, key_ranges)

    def __str__(self) -> str:  # error messages name the store itself
        return str(self._store)


def limited(store: Store) -> Store:
    """``store`` for zarr's array reads: a remote store wrapped so each read takes a slot of the shared
    limit (nwbzarr's own batched reads unwrap it and take their slots themselves); local stores as they are."""
    if isinstance(store, RequestLimitedStore) or not is_remote(store):
        return store
    return RequestLimitedStore(store)


def _unlimited(store: Store) -> Store:
    """The store inside a RequestLimitedStore (whose reads would take a second slot), else ``store``."""
    return wrapped_store(store) if isinstance(store, RequestLimitedStore) else store


async def get_value(store: Store, key: str, prototype: Any) -> Any:
    """``store.get(key)`` (None when absent) inside a slot of the shared limit."""
    store = _unlimited(store)
    async with request_slot(store):
        return await store.get(key, prototype=prototype)


async def get_values(store: Store, keys: Sequence[str], prototype: Any) -> list[Any]:
    """The values of ``keys`` (None where absent), fetched concurrently within the shared limit."""
    store = _unlimited(store)
    if not is_remote(store):  # local: as before, every get at once
        return list(await asyncio.gather(*(store.get(k, prototype=prototype) for k in keys)))
    semaphore = _semaphore()

    async def one(key: str) -> Any:
        async with semaphore:
            return await store.get(key, prototype=prototype)

    return list(await asyncio.gather(*(one(k) for k in keys)))


# --- HTTP: retry transient errors in the client ------------------------------------------------------
def _retry_after(response: Any, attempt: int) -> float:
    """Seconds to wait before the next try: the server's Retry-After (capped), else exponential backoff."""
    header = response.headers.get("Retry-After") if response is not None else None
    try:
        return min(float(header), MAX_RETRY_AFTER) if header else BACKOFF_SECONDS * 2 ** attempt
    except ValueError:  # an HTTP date: use our own backoff
        return BACKOFF_SECONDS * 2 ** attempt


async def retry_transient(request: Any, handler: Any) -> Any:
    """aiohttp client middleware: send again, with backoff, after a 429/5xx answer or a refused, reset or
    timed-out connection; the last try's answer or error goes back to fsspec, which raises it with the URL."""
    import aiohttp

    for attempt in range(HTTP_ATTEMPTS):
        last = attempt == HTTP_ATTEMPTS - 1
        try:
            response = await handler(request)
        except (TimeoutError, aiohttp.ClientConnectionError):
            if last:
                raise
            response = None
        else:
            if response.status not in TRANSIENT_STATUS or last:
                return response
            response.release()
        await asyncio.sleep(_retry_after(response, attempt))
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises


async def retrying_client(**kwargs: Any) -> Any:
    """fsspec HTTPFileSystem's ``get_client``: an aiohttp session that retries transient errors."""
    import aiohttp

    if not hasattr(aiohttp, "ClientMiddlewareType"):  # aiohttp < 3.12: no middlewares, so no retries
        return aiohttp.ClientSession(**kwargs)
    middlewares = (retry_transient, *kwargs.pop("middlewares", ()))
    return aiohttp.ClientSession(middlewares=middlewares, **kwargs)


def remote_storage_options(scheme: str, options: dict[str, Any] | None) -> dict[str, Any] | None:
    """``options`` for an fsspec URL, with the retrying HTTP client for http(s) unless the caller gave
    their own ``get_client``."""
    if scheme in ("http", "https") and "get_client" not in (options or {}):
        return {**(options or {}), "get_client": retrying_client}
    return options or None
