"""The I/O floor of a directory-store write (issue 17): the same folders and files of the same sizes,
created with plain ``os`` calls, in one thread and in several; nothing encoded, no Zarr, no HDMF.

The write's plan execution (``write_builder``) is compared with this floor in the report.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

FLOOR_THREADS = (1, 4)


def store_tree(root: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """(folders, (file, size) pairs) of a written store, relative to ``root``, parents before children."""
    folders: list[str] = []
    files: list[tuple[str, int]] = []
    for here, dirs, names in os.walk(root):
        rel = os.path.relpath(here, root)
        dirs.sort()
        if rel != ".":
            folders.append(rel)
        files.extend((os.path.join(rel, n), os.path.getsize(os.path.join(here, n))) for n in sorted(names))
    return folders, files


def _create(target: Path, folders: list[str], files: list[tuple[str, int]], threads: int) -> float:
    """Seconds to create ``folders`` then ``files`` (zero bytes of each size) under a new ``target``; the
    tree is left for the caller to delete once nothing is timed (deleting it would slow the next run's
    file creation, see ``runner.set_aside``)."""
    payloads = {size: b"\0" * size for _, size in files}

    def write(item: tuple[str, int]) -> None:
        with open(target / item[0], "wb") as f:
            f.write(payloads[item[1]])

    target.mkdir(parents=True)
    t0 = time.perf_counter()
    for folder in folders:
        os.mkdir(target / folder)
    if threads == 1:
        for item in files:
            write(item)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(write, files))
    return time.perf_counter() - t0


def floor_beside(store: Path, scratch: Path) -> float:
    """Seconds to recreate ``store``'s tree once, in one thread, right after the write that made it: the disk
    of this project's machines changes speed by 2-3x within minutes (a floor of 0.33 s, then 1.2 s, then
    0.5 s), so a write is compared with the floor measured beside it, not minutes later."""
    folders, files = store_tree(store)
    os.sync()
    return _create(scratch / f"beside-{time.monotonic_ns()}", folders, files, 1)


def io_floor(store: Path, scratch: Path, repeats: int = 3) -> dict[str, Any]:
    """Median seconds to recreate ``store``'s tree with plain ``os`` calls, per thread count (the trees
    are left under ``scratch``)."""
    folders, files = store_tree(store)
    out: dict[str, Any] = {"folders": len(folders), "files": len(files),
                           "bytes": sum(size for _, size in files)}
    for threads in FLOOR_THREADS:
        runs = []
        for r in range(repeats):
            os.sync()  # as before every timed write (``runner._write_all``)
            runs.append(_create(scratch / f"floor-{threads}-{r}", folders, files, threads))
        out[f"threads_{threads}_s"] = statistics.median(runs)
    out["best_s"] = min(out[f"threads_{t}_s"] for t in FLOOR_THREADS)
    return out
