"""Where a ZarrIO reads and writes: a zarr 3 Store from a path, URL or Store object."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from zarr.abc.store import Store
from zarr.storage import FsspecStore, LocalStore, ObjectStore

from .._private_api import open_store as open_zarr_store
from .._private_api import store_is_open, sync
from ..storage.local_urls import local_url_path, malformed_local_url
from ..storage.remote_clients import obstore_store_options, obstore_url
from ..storage.remote_writes import bounded_writes
from ..storage.url import NON_REMOTE_SCHEMES, local_store_kind, open_store


def open_location(path: Any, read_only: bool, storage_options: dict | None = None) -> tuple[Store, str | None]:
    """(store, location): ``location`` is a local directory or URL used to resolve relative sources."""
    transactional = _icechunk_store(path, read_only)
    if transactional is not None:
        return transactional, store_location(transactional)
    if isinstance(path, Store):
        store = path
        if read_only and not store.read_only:
            try:
                store = store.with_read_only(True)
            except (NotImplementedError, AttributeError):
                pass
        elif not read_only:
            store = bounded_writes(store)  # a remote store's writes within the shared request limit
        return store, store_location(store)
    if isinstance(path, Path):
        path = str(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, pathlib.Path or zarr Store, not {type(path).__name__}")
    if "://" in path and not path.startswith("file://"):
        return _open_url(path, read_only, storage_options), path
    if malformed_local_url(path):  # sqlite:/x.sqldb: neither a URL nor meant as a path
        raise ValueError(malformed_local_url(path))
    local = local_url_path(path) if path.startswith("file://") else path
    local = os.path.abspath(os.path.expanduser(local))
    if os.path.isfile(local) or local_store_kind(local) != "directory":  # SQLite/LMDB/zip files are stores too
        return _opened(open_store(local, mode="r" if read_only else "a")), local
    return LocalStore(local, read_only=read_only), local


def _icechunk_store(path: Any, read_only: bool) -> Store | None:
    """An Icechunk repository, session or store given as ``path``, as nwbzarr's store (None otherwise)."""
    if "icechunk" not in sys.modules or isinstance(path, (str, Path)):
        return None  # nothing from Icechunk can have been passed
    from ..storage.icechunk import as_store

    return as_store(path, read_only)


def _opened(store: Store) -> Store:
    """Stores such as zarr's ZipStore must be opened before their first call."""
    if not store_is_open(store):
        sync(open_zarr_store(store))
    return store


def _open_url(url: str, read_only: bool, storage_options: dict | None) -> Store:
    return open_store(url, mode="r" if read_only else "a", **(storage_options or {}))


def store_location(store: Store) -> str | None:
    """The directory or URL of a store, when it has one."""
    if isinstance(store, LocalStore):
        return str(store.root)
    if isinstance(store, FsspecStore):
        protocol = store.fs.protocol[0] if isinstance(store.fs.protocol, (tuple, list)) else store.fs.protocol
        return f"{protocol}://{store.path}" if protocol not in ("file", "local") else store.path
    if isinstance(store, ObjectStore):
        return obstore_url(store.store)
    for attr in ("root", "path"):
        value = getattr(store, attr, None)
        if isinstance(value, (str, Path)):
            return str(value)
    return None


def is_remote_store(store: Store) -> bool:
    """An fsspec store on a file system other than the local disk or memory (hdmf-zarr's ``is_remote``), or
    an obstore store of a remote service (s3, gs, az, http)."""
    if isinstance(store, ObjectStore):
        return obstore_url(store.store) is not None
    if not isinstance(store, FsspecStore):
        return False
    protocols = store.fs.protocol if isinstance(store.fs.protocol, (tuple, list)) else (store.fs.protocol,)
    return not set(protocols) & {"file", "local", "memory"}


def is_remote_url(path: Any) -> bool:
    """Whether ``path`` names a store that would be opened as a remote fsspec store (see is_remote_store)."""
    text = str(path)
    if "://" not in text:
        return False
    schemes = [part.split("://")[0].lower() for part in text.split("::")]
    return schemes[-1] not in NON_REMOTE_SCHEMES


def is_local(location: str | None) -> bool:
    return location is not None and "://" not in location


def resolve_source(location: str | None, source: str) -> list[str]:
    """Candidate locations of another store named by ``source`` relative to this store.

    docs/format.md ("Links"): relative to the store root; one old release wrote it relative to the directory that
    contains the store (so both are tried, in that order).
    """
    if location is None:
        return [source]
    if "://" in source or os.path.isabs(source):
        return [source]
    if "://" in location:
        base = location.rstrip("/")
        return [_join_url(base, source), _join_url(base.rsplit("/", 1)[0], source)]
    first = os.path.normpath(os.path.join(location, source))
    second = os.path.normpath(os.path.join(os.path.dirname(location.rstrip("/")), source))
    return [first] if first == second else [first, second]


def _join_url(base: str, rel: str) -> str:
    parts = base.split("/")
    for piece in rel.split("/"):
        if piece == "..":
            if len(parts) > 3:  # never above the host: 'scheme:', '', 'host'
                parts.pop()
        elif piece not in (".", ""):
            parts.append(piece)
    return "/".join(parts)


def relative_source(location: str | None, target: str) -> str:
    """``target`` written relative to this store's root ('.' for the store itself)."""
    if location is None or "://" in target or "://" in location:
        return target
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(location))
    return "." if rel == "." else rel


def options_for_target(location: str | None, storage_options: dict | None, target: str) -> dict | None:
    """The storage options a linked store opens with: the reading store's own when both are URLs of the same
    protocol chain (one client: same endpoint, credentials, ``anon``), none for any other target."""
    if not storage_options or location is None or "://" not in location or "://" not in target:
        return None
    return storage_options if _protocols(location) == _protocols(target) else None


def store_options(store: Store | None) -> dict | None:
    """The file system options an fsspec store was opened with (a store given as ``path`` brings its own);
    an obstore store's configuration, client and retry options (with ``remote_client='obstore'``)."""
    if isinstance(store, FsspecStore):
        return dict(store.fs.storage_options) or None
    if isinstance(store, ObjectStore) and obstore_url(store.store) is not None:
        return obstore_store_options(store.store)
    return None


def _protocols(url: str) -> tuple[str, ...]:
    """The protocol chain of an fsspec URL (``simplecache::s3://b/x`` -> ``('simplecache', 's3')``)."""
    return tuple(part.split("://", 1)[0].lower() for part in url.split("::"))
