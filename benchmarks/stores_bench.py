"""Store micro-benchmark: set/get of 1 KiB and 4 MiB values and listing many keys, for every nwbzarr
store, as ratios to zarr's LocalStore and MemoryStore measured in the same run.

    python -m benchmarks.stores_bench [--quick]

Redis needs ``redis-server`` on PATH (started on a free loopback port); MongoDB runs on mongomock.
"""

from __future__ import annotations

import argparse
import asyncio
import dbm.dumb
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable

from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore, MemoryStore

from nwbzarr.storage import (
    DBMStore,
    LMDBStore,
    LRUStoreCache,
    MappingStore,
    MongoDBStore,
    RedisStore,
    SQLiteStore,
)

PROTO = default_buffer_prototype()
CONCURRENCY = 10  # zarr's default async.concurrency


async def _gather(fn: Callable, items: list) -> None:
    for i in range(0, len(items), CONCURRENCY):
        await asyncio.gather(*(fn(x) for x in items[i : i + CONCURRENCY]))


def _time(coro_factory: Callable) -> float:
    t0 = time.perf_counter()
    sync(coro_factory())
    return time.perf_counter() - t0


def bench_store(store, sizes: dict[str, tuple[int, int]], n_list: int) -> dict[str, float]:
    """Seconds per operation group for one store."""
    out: dict[str, float] = {}
    for label, (size, count) in sizes.items():
        buf = cpu.Buffer.from_bytes(os.urandom(size))
        keys = [f"{label}/c/{i}" for i in range(count)]
        out[f"set {label}"] = _time(lambda keys=keys, buf=buf: _gather(lambda k: store.set(k, buf), keys))
        out[f"get {label}"] = _time(lambda keys=keys: _gather(lambda k: store.get(k, PROTO), keys))
    if not n_list:
        return out
    small = cpu.Buffer.from_bytes(b"x")
    sync(store._set_many([(f"list/c/{i}", small) for i in range(n_list)]))

    async def listing() -> None:
        n = len([k async for k in store.list_prefix("list/")])
        assert n == n_list, n

    out[f"list {n_list // 1000}k"] = _time(listing)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(workdir: str) -> tuple[subprocess.Popen | None, int]:
    exe = shutil.which("redis-server")
    if exe is None:
        return None, 0
    port = _free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", workdir], stdout=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    return None, 0


def make_stores(tmp: str, redis_port: int) -> dict[str, object]:
    import mongomock

    client = mongomock.MongoClient()
    stores = {
        "LocalStore": LocalStore(os.path.join(tmp, "local")),
        "MemoryStore": MemoryStore({}),
        "SQLiteStore": SQLiteStore(os.path.join(tmp, "s.sqldb")),
        "LMDBStore": LMDBStore(os.path.join(tmp, "l.lmdb"), map_size=2**34),
        "DBMStore(dumb)": DBMStore(os.path.join(tmp, "d.dbm"), open=dbm.dumb.open),
        "MongoDBStore(mongomock)": MongoDBStore("bench", "c", client_factory=lambda **kw: client),
        "LRUStoreCache(Local)": LRUStoreCache(LocalStore(os.path.join(tmp, "cached")), max_size=2**30),
        "MappingStore(dict)": MappingStore({}),
    }
    if redis_port:
        stores["RedisStore"] = RedisStore("bench", host="127.0.0.1", port=redis_port)
    return stores


def _cell(t: float | None, local: float, memory: float) -> str:
    return "n/a" if t is None else f"{t:8.3f} {t / local:6.2f} {t / memory:6.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations (seconds, not minutes)")
    args = parser.parse_args(argv)
    sizes = {"1KiB": (1024, 300 if args.quick else 3000), "4MiB": (4 * 2**20, 4 if args.quick else 40)}
    n_list = 10_000 if args.quick else 100_000
    tmp = tempfile.mkdtemp(prefix="nwbzarr-bench-")
    redis_proc, port = _start_redis(tmp)
    try:
        stores = make_stores(tmp, port)
        # mongomock scans every document per write: listing 100k keys would take hours, so skip it
        results = {name: bench_store(store, sizes, 0 if "mongomock" in name else n_list)
                   for name, store in stores.items()}
        for store in stores.values():
            store.close()
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    ops = list(results["LocalStore"])
    print(f"{'store':26s}" + "".join(f"{op:>22s}" for op in ops))
    print(f"{'':26s}" + "".join(f"{'s  xLocal  xMemory':>22s}" for _ in ops))
    for name, res in results.items():
        cells = [_cell(res.get(op), results["LocalStore"][op], results["MemoryStore"][op]) for op in ops]
        print(f"{name:26s}" + "".join(f"{c:>22s}" for c in cells))
    if not port:
        print("(RedisStore skipped: redis-server not on PATH)")


if __name__ == "__main__":
    main()
