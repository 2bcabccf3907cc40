"""open_store: pick and build a zarr 3 store from a URL, a path or an existing store."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from zarr.abc.store import Store
from zarr.storage import FsspecStore, LocalStore, MemoryStore, ZipStore

from nwbzarr.storage._server import check_timeout
from nwbzarr.storage.local_urls import local_url_path, malformed_local_url

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # the superblock signature at the start of every HDF5 file we open


def is_hdf5_file(path: Any) -> bool:
    """True when ``path`` is a local file that starts with the HDF5 signature (its name does not matter);
    False for URLs, directories, stores and files that cannot be read."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    path = os.fspath(path)
    if not path or "://" in str(path) or not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == HDF5_SIGNATURE
    except OSError:
        return False

__all__ = ["NON_REMOTE_SCHEMES", "is_url", "local_store_kind", "location_exists", "open_store"]

MODES = ("r", "r+", "a", "w", "w-")
H5C_MARKER = ".nwbzarr-h5container"
_SQLITE_SUFFIXES = (".sqldb", ".sqlite", ".sqlite3")
_LMDB_SUFFIXES = (".lmdb", ".mdb")
# URL schemes open_store serves without a remote fsspec file system (any other URL is remote storage)
NON_REMOTE_SCHEMES = ("file", "local", "memory", "sqlite", "lmdb", "dbm", "redis", "rediss", "mongodb",
                      "mongodb+srv", "h5container", "zipcontainer", "icechunk", "icechunk+file")
# of those, the schemes whose URL names a local file or folder (sqlite:///x.sqldb, icechunk:///dir, ...)
_FILE_BACKED_SCHEMES = ("sqlite", "lmdb", "dbm", "h5container", "zipcontainer", "icechunk", "icechunk+file")


def _existing_path(spec: str, read_only: bool) -> str:
    """The path of a local store URL; for reading, a missing absolute path whose relative twin exists is
    refused with the spelling of the relative one (``sqlite:///x`` meant ``./x`` before RFC 8089 reading)."""
    path = local_url_path(spec)
    relative = path.lstrip("/")
    if read_only and path.startswith("/") and relative and not _exists(path) and _exists(relative):
        scheme = spec.split("://", 1)[0]
        raise FileNotFoundError(f"{spec!r} names {path}, which does not exist, while ./{relative} does: three "
                                f"slashes start an absolute path; write {scheme}://{relative} for a relative one")
    return path


def _exists(path: str) -> bool:
    return os.path.exists(path) or _dbm_files_exist(path)


def _few_files(kind: str, path: str, read_only: bool, kwargs: dict[str, Any]) -> Store:
    """H5ContainerStore / ZipContainerStore, imported lazily (they live in another module)."""
    module, cls = {"h5container": ("h5container", "H5ContainerStore"),
                   "zipcontainer": ("zipcontainer", "ZipContainerStore")}[kind]
    try:
        mod = importlib.import_module(f"nwbzarr.storage.{module}")
    except ImportError as err:
        raise ValueError(f"{kind}:// needs nwbzarr.storage.{module}, which is not available") from err
    return getattr(mod, cls)(path, read_only=read_only, **kwargs)


def _redis(spec: str, read_only: bool, kwargs: dict[str, Any]) -> Store:
    from nwbzarr.storage.redis import RedisStore

    parts = urlsplit(spec)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    opts: dict[str, Any] = {"host": parts.hostname or "localhost", "port": parts.port or 6379}
    if parts.path.strip("/"):
        opts["db"] = int(parts.path.strip("/"))
    if parts.password:
        opts["password"] = parts.password
    if parts.username:
        opts["username"] = parts.username
    if parts.scheme == "rediss":
        opts["ssl"] = True
    if "timeout" in query:
        opts["timeout"] = check_timeout(query.pop("timeout"))
    return RedisStore(query.pop("prefix", "zarr"), read_only=read_only, **{**opts, **kwargs})


def _mongodb(spec: str, read_only: bool, kwargs: dict[str, Any]) -> Store:
    from nwbzarr.storage.mongodb import MongoDBStore

    parts = urlsplit(spec)
    query = parse_qs(parts.query)
    collection = query.pop("collection", ["zarr_collection"])[-1]
    database = parts.path.strip("/") or "mongodb_zarr"
    if "timeout" in query:
        kwargs = {"timeout": check_timeout(query.pop("timeout")[-1]), **kwargs}
    rest = "&".join(f"{k}={v[-1]}" for k, v in query.items())
    host = f"{parts.scheme}://{parts.netloc}/" + (f"?{rest}" if rest else "")
    return MongoDBStore(database, collection, read_only=read_only, host=host, **kwargs)


def _is_sqlite_file(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def local_store_kind(path: str | os.PathLike[str]) -> str:
    """Which store a local path holds, by suffix, marker files and content: 'zip', 'sqlite', 'lmdb',
    'h5container', 'zipcontainer' or 'directory' (a plain directory store, existing or not)."""
    p = Path(path)
    lower = p.name.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith(_SQLITE_SUFFIXES) or (p.is_file() and _is_sqlite_file(p)):
        return "sqlite"
    if lower.endswith(_LMDB_SUFFIXES) or (p / "data.mdb").is_file():
        return "lmdb"
    if (p / H5C_MARKER).exists():
        return "h5container"
    return _container_kind(p) or "directory"


_CONTAINER_KINDS = {"h5container": ".h5", "zipcontainer": ".zip"}


def _container_kind(root: Path) -> str | None:
    """'h5container' or 'zipcontainer' for a folder one of those stores wrote (read as a plain directory,
    its packed chunks would read as missing, i.e. as fill values): by the kind file it writes, else, for
    stores from before that file, by its lock folder and the first container file found under it."""
    from nwbzarr.storage._container_locks import LOCK_DIR_NAME
    from nwbzarr.storage._routing import LEGACY_LOCK_FILE, STORE_KIND_FILE

    try:
        kind = (root / STORE_KIND_FILE).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        kind = None
    except OSError as exc:
        raise ValueError(f"{root}: cannot read {STORE_KIND_FILE} ({exc})") from exc
    if kind is not None:
        if kind not in _CONTAINER_KINDS:
            raise ValueError(f"{root}: {STORE_KIND_FILE} names {kind!r}, not one of {', '.join(_CONTAINER_KINDS)}")
        return kind
    if not ((root / LOCK_DIR_NAME).is_dir() or (root / LEGACY_LOCK_FILE).is_file()):
        return None
    for _, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != LOCK_DIR_NAME]
        for name in files:
            for found, suffix in _CONTAINER_KINDS.items():
                if name.endswith(suffix):
                    return found
    return None


def _from_path(path: str, mode: str, read_only: bool, kwargs: dict[str, Any]) -> Store:
    """The store for a local path, of the kind ``local_store_kind`` finds."""
    p, kind = Path(path), local_store_kind(path)
    if kind == "zip":
        return ZipStore(p, mode="r" if read_only else ("w" if mode == "w" else "a"), read_only=read_only)
    if kind == "sqlite":
        from nwbzarr.storage.sqlite import SQLiteStore

        return SQLiteStore(p, read_only=read_only, **kwargs)
    if kind == "lmdb":
        from nwbzarr.storage.lmdb import LMDBStore

        return LMDBStore(p, read_only=read_only, **kwargs)
    if kind in _CONTAINER_KINDS:
        return _few_files(kind, path, read_only, kwargs)
    return LocalStore(p, read_only=read_only)


def open_store(spec: str | os.PathLike[str] | Store, mode: str = "r", remote_client: str | None = None,
               **kwargs: Any) -> Store:
    """Build the store named by ``spec``; ``mode`` 'r' gives a read-only store, others writable.

    Understands ``sqlite:///abs/f.sqldb`` (``sqlite://rel/f.sqldb``: relative; the same for every local store,
    see ``nwbzarr.storage.local_urls``), ``lmdb:///dir``, ``dbm:///file``, ``redis://host:port/db``
    (``?prefix=``), ``mongodb://host/db?collection=`` (both take ``?timeout=`` seconds, default 5), ``memory://``,
    ``file://``, ``h5container://`` / ``zipcontainer://``, ``icechunk:///dir`` / ``icechunk+s3://bucket/prefix``
    (``?branch=``, ``?snapshot=``; see nwbzarr.storage.icechunk), any other fsspec URL (``s3://``, ``gs://``, ``https://``;
    ``kwargs`` become ``storage_options``), and local paths (``.zip``, ``.sqldb``, ``.lmdb``,
    directories). A Store is returned as is. Extra ``kwargs`` go to the store's constructor.

    ``remote_client``: what opens remote URLs, ``"obstore"`` (zarr's ``ObjectStore``; s3, gs, az and http(s)
    URLs) or ``"fsspec"`` (``FsspecStore``); None: ``$NWBZARR_REMOTE_CLIENT``, else obstore for reads it can
    serve and fsspec otherwise (``remote_clients.choose_remote_client``). It may also come as the
    ``remote_client`` key of the options.
    """
    from nwbzarr.storage.remote_clients import choose_remote_client

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    read_only = mode == "r"
    if isinstance(spec, Store):
        return spec
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec:
        raise TypeError(f"open_store needs a URL, a path or a Store, got {spec!r}")
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    if scheme == "":
        if malformed_local_url(spec):  # sqlite:/x.sqldb, lmdb:x: not a path named so
            raise ValueError(malformed_local_url(spec))
        return _from_path(spec, mode, read_only, kwargs)
    if scheme == "file":
        return _from_path(local_url_path(spec), mode, read_only, kwargs)
    if scheme == "sqlite":
        from nwbzarr.storage.sqlite import SQLiteStore

        return SQLiteStore(_existing_path(spec, read_only), read_only=read_only, **kwargs)
    if scheme == "lmdb":
        from nwbzarr.storage.lmdb import LMDBStore

        return LMDBStore(_existing_path(spec, read_only), read_only=read_only, **kwargs)
    if scheme == "dbm":
        from nwbzarr.storage.dbm import DBMStore

        return DBMStore(_existing_path(spec, read_only), read_only=read_only, **kwargs)
    if scheme in ("redis", "rediss"):
        return _redis(spec, read_only, kwargs)
    if scheme in ("mongodb", "mongodb+srv"):
        return _mongodb(spec, read_only, kwargs)
    if scheme == "memory":
        return MemoryStore(read_only=read_only)
    if scheme in ("icechunk", "icechunk+file", "icechunk+s3"):
        from nwbzarr.storage.icechunk import open_icechunk_url

        return open_icechunk_url(spec, mode, **kwargs)
    if scheme in ("h5container", "zipcontainer"):
        return _few_files(scheme, _existing_path(spec, read_only), read_only, kwargs)
    from nwbzarr.storage.remote_writes import bounded_writes  # writes within the shared request limit

    if choose_remote_client(remote_client, scheme, kwargs, read_only) == "obstore":
        from nwbzarr.storage.remote_clients import obstore_store

        return bounded_writes(obstore_store(spec, read_only, kwargs))
    from nwbzarr.storage.remote import remote_storage_options  # http(s): retry transient errors
    from nwbzarr.storage.remote_clients import fsspec_read_options

    options = fsspec_read_options(scheme, kwargs) if read_only else kwargs
    return bounded_writes(FsspecStore.from_url(spec, storage_options=remote_storage_options(scheme, options),
                                               read_only=read_only))


def _scheme(location: str) -> str:
    return location.split("://", 1)[0].lower() if "://" in location else ""


def is_url(location: str) -> bool:
    """True for a remote URL (``s3://``, ``https://``, ...); False for a local path and for the URLs of
    nwbzarr's own stores (``file://``, ``sqlite://``, ``icechunk://``, ``redis://``, ...)."""
    return _scheme(location) not in ("", *NON_REMOTE_SCHEMES)


def _dbm_files_exist(path: str) -> bool:
    """Whether a DBM database named ``path`` exists in any flavour (dbm.dumb keeps ``path.dat``/``.dir``)."""
    import dbm

    return dbm.whichdb(path) is not None


def location_exists(location: str, storage_options: dict | None = None) -> bool:
    """Whether anything is at ``location``: a local path, or any object under a URL's prefix (fsspec,
    with ``storage_options``); for refusing to overwrite a conversion's target."""
    scheme = _scheme(location)
    if scheme in _FILE_BACKED_SCHEMES:  # sqlite:///x.sqldb, icechunk:///dir, ...: the file or folder it names
        path = local_url_path(location, allow_query=True)
        return os.path.exists(path) or (scheme == "dbm" and _dbm_files_exist(path))
    if scheme == "file":
        return os.path.exists(local_url_path(location))
    if scheme == "local":
        return os.path.exists(urlsplit(location).path)
    if scheme in NON_REMOTE_SCHEMES:  # memory://, redis://, mongodb://: no file to find; the store's mode decides
        return False
    if not scheme:
        return os.path.exists(location)
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(location, **(storage_options or {}))
    return bool(fs.exists(path))
