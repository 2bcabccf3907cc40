"""nwbzarr.storage: zarr-python 3 stores (SQLite, LMDB, DBM, Redis, MongoDB, caches) and helpers."""

from nwbzarr.storage.dbm import DBMStore
from nwbzarr.storage.errors import StoreCorruptError
from nwbzarr.storage.helpers import copy_store, getsize, listdir, rename, rmdir
from nwbzarr.storage.lmdb import LMDBStore
from nwbzarr.storage.lru import LRUStoreCache
from nwbzarr.storage.mapping import MappingStore
from nwbzarr.storage.mongodb import MongoDBStore
from nwbzarr.storage.redis import RedisStore
from nwbzarr.storage.sqlite import SQLiteStore
from nwbzarr.storage.temp import TempStore
from nwbzarr.storage.url import open_store

__all__ = [
    "DBMStore",
    "LMDBStore",
    "LRUStoreCache",
    "MappingStore",
    "MongoDBStore",
    "RedisStore",
    "SQLiteStore",
    "StoreCorruptError",
    "TempStore",
    "copy_store",
    "getsize",
    "listdir",
    "open_store",
    "rename",
    "rmdir",
]

# --- few-files stores ---
from nwbzarr.storage.h5container import H5ContainerStore
from nwbzarr.storage.zipcontainer import ZipContainerStore

__all__ += ["H5ContainerStore", "ZipContainerStore"]
# --- end few-files stores ---

# --- database server timeouts ---
from nwbzarr.storage._server import ServerUnavailableError  # noqa: E402

__all__ += ["ServerUnavailableError"]
