"""SQLite store: one table ``zarr(k TEXT PRIMARY KEY, v BLOB)``, the layout of zarr 2's SQLiteStore."""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

from zarr.abc.store import ByteRequest

from nwbzarr.storage.base import BytesLike, SyncBackendStore, prefix_upper_bound, resolve_range
from nwbzarr.storage.errors import StoreCorruptError

__all__ = ["SQLiteStore"]

_CREATE = "CREATE TABLE IF NOT EXISTS zarr(k TEXT PRIMARY KEY, v BLOB)"
_CORRUPT_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")  # damaged pages / not a database at all


def _names_corruption(method: Any) -> Any:
    """A primitive whose SQLite corruption errors become ``StoreCorruptError`` naming the file and key."""

    @functools.wraps(method)
    def wrapper(self: SQLiteStore, *args: Any) -> Any:
        try:
            with self._connection_lock():  # close() from another thread waits for this call to end
                return method(self, *args)
        except sqlite3.DatabaseError as exc:
            if not _is_corruption(exc):
                raise
            raise StoreCorruptError(f"SQLite store {self.path} is damaged{_describe_args(args)}: {exc} (restore "
                                    "the file from a copy; `sqlite3 FILE .recover` may save what is left)") from exc

    return wrapper


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    name = getattr(exc, "sqlite_errorname", None)
    if name is not None:
        return name.startswith(_CORRUPT_CODES)  # extended codes too (SQLITE_CORRUPT_INDEX, ...)
    return type(exc) is sqlite3.DatabaseError  # older Pythons: corruption is the bare DatabaseError


def _describe_args(args: tuple[Any, ...]) -> str:
    """Where a primitive was working, for the error: its key, prefix or keys."""
    first = args[0] if args else None
    if isinstance(first, str):
        return f" at key {first!r}" if first else " while listing its keys"
    if isinstance(first, list) and first:
        keys = [item[0] for item in first]
        return f" at keys {keys[:3]!r}" + (" ..." if len(keys) > 3 else "")
    return ""


def _range_clause(prefix: str) -> tuple[str, tuple[str, ...]]:
    """SQL condition selecting keys that start with prefix, as an index range scan (not LIKE)."""
    upper = prefix_upper_bound(prefix)
    if upper is None:
        return "k >= ?", (prefix,)
    return "k >= ? AND k < ?", (prefix, upper)


class SQLiteStore(SyncBackendStore):
    """A zarr store in one SQLite file; files written by zarr 2's ``SQLiteStore`` open unchanged.

    Concurrency: safe for any number of threads (one connection per thread, WAL journal), and for
    several processes writing disjoint keys (SQLite's file locks serialise writers; ``timeout`` is
    how long a writer waits). Every write is a transaction, so a writer killed mid-write leaves all
    other values intact. Listing uses primary-key range scans; byte ranges use incremental blob I/O.
    """

    supports_multiprocess_writes = True  # SQLite serialises writers with its file lock
    supports_fork = True

    def __init__(
        self, path: str | os.PathLike[str], *, wal: bool = True, timeout: float = 60.0, read_only: bool = False
    ) -> None:
        super().__init__(read_only=read_only)
        path = os.fspath(path)
        if path in ("", ":memory:") or path.startswith("file::memory:"):
            raise ValueError("SQLiteStore needs a file path; use zarr.storage.MemoryStore for in-memory data")
        self.path = os.path.abspath(path)
        self.wal = bool(wal)
        self.timeout = float(timeout)
        self._local = threading.local()
        self._conns: list[tuple[sqlite3.Connection, threading.RLock]] = []
        self._conns_lock = threading.Lock()
        self._pid = os.getpid()
        self._write_lock = threading.Lock()  # in-process writers queue here, not in SQLite's busy-sleep

    def _config(self) -> dict[str, Any]:
        return {"path": self.path, "wal": self.wal, "timeout": self.timeout}

    # ------------------------------------------------------------ connections

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            if not os.path.exists(self.path):
                raise FileNotFoundError(f"SQLite store {self.path} does not exist")
            target, uri = f"file:{quote(self.path)}?mode=ro", True
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            target, uri = self.path, False
        con = sqlite3.connect(
            target, timeout=self.timeout, isolation_level=None, check_same_thread=False, uri=uri
        )
        con.execute("PRAGMA cell_size_check=ON")  # damaged pages are detected as they are read, not followed
        lock = self._local.lock = threading.RLock()  # primitives call primitives
        with self._conns_lock:
            self._conns.append((con, lock))
        return con

    def _connection_lock(self) -> threading.RLock:
        """The lock of this thread's connection, held while a primitive uses it: closing a connection that
        another thread is reading from crashes SQLite (reads still in flight after an error, then close)."""
        self._con()
        return self._local.lock

    def _con(self) -> sqlite3.Connection:
        """This thread's connection (a new one after fork: SQLite handles must not cross fork)."""
        if self._pid != os.getpid():
            self._pid, self._local, self._conns = os.getpid(), threading.local(), []
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._connect()
        return con

    @_names_corruption
    def _b_open(self) -> None:
        con = self._con()
        if self.read_only:
            row = con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='zarr'").fetchone()
            if row is None:
                raise ValueError(f"{self.path} is not a zarr SQLite store (no table 'zarr')")
            return
        if self.wal:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
        con.execute(_CREATE)

    def _b_close(self) -> None:
        with self._conns_lock:
            conns, self._conns = self._conns, []
        self._local = threading.local()
        if self._pid == os.getpid():
            for con, lock in conns:
                with lock:
                    con.close()

    # ------------------------------------------------------------ primitives

    @_names_corruption
    def _b_get(self, key: str, byte_range: ByteRequest | None) -> BytesLike | None:
        con = self._con()
        if byte_range is None:
            row = con.execute("SELECT v FROM zarr WHERE k = ?", (key,)).fetchone()
            return None if row is None else bytes(row[0])
        con.execute("BEGIN")
        try:
            row = con.execute("SELECT rowid FROM zarr WHERE k = ?", (key,)).fetchone()
            if row is None:
                return None
            with con.blobopen("zarr", "v", row[0], readonly=True) as blob:
                start, stop = resolve_range(len(blob), byte_range)
                blob.seek(start)
                return blob.read(stop - start)
        finally:
            con.execute("COMMIT")

    @_names_corruption
    def _b_get_many(self, requests: list[tuple[str, ByteRequest | None]]) -> list[BytesLike | None]:
        return [self._b_get(k, r) for k, r in requests]

    @_names_corruption
    def _b_size(self, key: str) -> int | None:
        row = self._con().execute("SELECT length(v) FROM zarr WHERE k = ?", (key,)).fetchone()
        return None if row is None else int(row[0] or 0)

    @_names_corruption
    def _b_exists(self, key: str) -> bool:
        return self._con().execute("SELECT 1 FROM zarr WHERE k = ?", (key,)).fetchone() is not None

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        con = self._con()
        with self._write_lock:
            con.execute(sql, args)

    @_names_corruption
    def _b_set(self, key: str, data: BytesLike) -> None:
        self._write("REPLACE INTO zarr VALUES (?, ?)", (key, data))

    @_names_corruption
    def _b_set_if_absent(self, key: str, data: BytesLike) -> None:
        self._write("INSERT OR IGNORE INTO zarr VALUES (?, ?)", (key, data))

    @_names_corruption
    def _b_set_many(self, items: list[tuple[str, BytesLike]]) -> None:
        con = self._con()
        with self._write_lock:
            self._transaction(con, items)

    @staticmethod
    def _transaction(con: sqlite3.Connection, items: list[tuple[str, BytesLike]]) -> None:
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany("REPLACE INTO zarr VALUES (?, ?)", items)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    @_names_corruption
    def _b_delete(self, key: str) -> None:
        self._write("DELETE FROM zarr WHERE k = ?", (key,))

    @_names_corruption
    def _b_delete_prefix(self, prefix: str) -> None:
        clause, args = _range_clause(prefix)
        self._write(f"DELETE FROM zarr WHERE {clause}", args)

    @_names_corruption
    def _b_list_prefix(self, prefix: str) -> list[str]:
        clause, args = _range_clause(prefix)
        return [r[0] for r in self._con().execute(f"SELECT k FROM zarr WHERE {clause} ORDER BY k", args)]

    @_names_corruption
    def _b_any_with_prefix(self, prefix: str) -> bool:
        clause, args = _range_clause(prefix)
        return self._con().execute(f"SELECT 1 FROM zarr WHERE {clause} LIMIT 1", args).fetchone() is not None
