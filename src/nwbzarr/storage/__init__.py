"""nwbzarr.storage: zarr-python 3 stores (SQLite, LMDB, DBM, Redis, MongoDB, caches) and helpers."""

from nwbzarr.storage.dbm import DBMStore
from nwbzarr.storage.lmdb import LMDBStore
from nwbzarr.storage.mongodb import MongoDBStore
from nwbzarr.storage.redis import RedisStore
from nwbzarr.storage.sqlite import SQLiteStore

__all__ = ["DBMStore", "LMDBStore", "MongoDBStore", "RedisStore", "SQLiteStore"]
