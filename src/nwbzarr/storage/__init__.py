"""nwbzarr.storage: zarr-python 3 stores (SQLite, LMDB, DBM, Redis, MongoDB, caches) and helpers."""

from nwbzarr.storage.sqlite import SQLiteStore

__all__ = ["SQLiteStore"]
