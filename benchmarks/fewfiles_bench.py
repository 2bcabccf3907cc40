"""Few-files stores vs the zarr directory store on a W1-like array and the W2 NWB file, as ratios in one run.

W1-like: 512 MiB int16, 699050 x 384 (30 kHz x 384 channels, ~23 s), chunks 65536 x 64, nwbzarr's default
codec (blosc-lz4, bit shuffle), written through zarr's own ``setitem``. Stores: LocalStore (reference), LocalStore + sharding codec, H5ContainerStore (write_direct),
H5ContainerStore written loose then ``consolidate()``, ZipContainerStore (loose then ``consolidate()``).
Reports files created, write / full-read / consolidate throughput and the 1-second (30000-row) slice read
time. Reads follow writes, so they come from the page cache on every store alike.

W2: the metadata-heavy NWB file of ``benchmarks.workloads`` (2,000 TimeSeries, a 10k-unit table) written
with ``NWBZarrIO`` on the same stores (no sharded variant: sharding is per array) and on ``SQLiteStore``;
files created, write (+ consolidate) time and open + ``read()`` time.

Run: ``python -m benchmarks.fewfiles_bench [--quick] [--only W1|W2] [--w2-rounds N] [--json out.json]
[--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from nwbzarr.format.codecs import default_compressors
from nwbzarr.storage.h5container import H5ContainerStore
from nwbzarr.storage.zipcontainer import ZipContainerStore

ROWS, COLS, CHUNKS = 699050, 384, (65536, 64)
SLICE_ROWS = 30000
MIB = 1 << 20


def make_data(rows: int, seed: int = 0) -> np.ndarray:
    """Noise around a slow drift per channel: compresses roughly like extracellular recordings."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 40, size=(rows, COLS)).astype(np.int16)
    drift = (np.sin(np.arange(rows, dtype=np.float32)[:, None] / 3000.0) * 200).astype(np.int16)
    return noise + drift


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def remove_and_settle(root: Path) -> None:
    """Delete a finished case's store and flush the file system, so that freeing its thousands of files
    is not billed to the next case's write."""
    shutil.rmtree(root)
    os.sync()


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def slice_read_seconds(arr: zarr.Array, repeats: int, seed: int = 1) -> float:
    """Median time to read 30000 consecutive rows x all channels at random offsets."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, arr.shape[0] - SLICE_ROWS, size=repeats)
    return statistics.median(timed(lambda s=int(s): arr[s : s + SLICE_ROWS, :]) for s in starts)


def run_case(name: str, root: Path, store: Any, data: np.ndarray, repeats: int, **create: Any) -> dict:
    """Write, optionally consolidate, then read one store; returns its measurements."""
    arr = zarr.create_array(store, name="w1", shape=data.shape, chunks=CHUNKS, dtype=data.dtype,
                            compressors=default_compressors("number"), **create)
    nbytes = data.nbytes
    out: dict[str, Any] = {"store": name, "write_s": timed(lambda: arr.__setitem__(Ellipsis, data))}
    if isinstance(store, (H5ContainerStore, ZipContainerStore)) and not store.write_direct:
        out["consolidate_s"] = timed(lambda: store.consolidate(parallel=2))
        out["consolidate_MiBps"] = nbytes / MIB / out["consolidate_s"]
    reader = zarr.open_array(store, path="w1", mode="r")
    got: dict[str, np.ndarray] = {}
    out["read_s"] = timed(lambda: got.setdefault("a", reader[...]))
    if not np.array_equal(got["a"], data):
        raise AssertionError(f"{name}: data read back differs from data written")
    out["slice_s"] = slice_read_seconds(reader, repeats)
    out["files"] = count_files(root)
    out["write_MiBps"] = nbytes / MIB / out["write_s"]
    out["read_MiBps"] = nbytes / MIB / out["read_s"]
    out["stored_MiB"] = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / MIB
    return out


CASES: list[tuple[str, Callable[[Path], Any], dict]] = [
    ("directory", lambda p: zarr.storage.LocalStore(p), {}),
    ("sharded", lambda p: zarr.storage.LocalStore(p), {"shards": (CHUNKS[0] * 4, COLS)}),
    ("h5 write_direct", lambda p: H5ContainerStore(p), {}),
    ("h5 loose+consolidate", lambda p: H5ContainerStore(p, write_direct=False), {}),
    ("zip loose+consolidate", lambda p: ZipContainerStore(p), {}),
]


def add_ratios(results: list[dict]) -> None:
    """Express every store relative to the directory store of the same run."""
    ref = results[0]
    for r in results:
        r["files_ratio"] = r["files"] / ref["files"]
        r["write_ratio"] = r["write_MiBps"] / ref["write_MiBps"]
        r["read_ratio"] = r["read_MiBps"] / ref["read_MiBps"]
        r["slice_ratio"] = r["slice_s"] / ref["slice_s"]


def print_table(results: list[dict], nbytes: int) -> None:
    print(f"W1-like array: {nbytes / MIB:.0f} MiB int16, chunks {CHUNKS}; ratios vs the directory store")
    head = f"{'store':24}{'files':>7}{'x dir':>8}{'write MiB/s':>13}{'x dir':>7}{'read MiB/s':>12}{'x dir':>7}"
    print(head + f"{'1s slice ms':>13}{'x dir':>7}{'consol. MiB/s':>15}")
    for r in results:
        cons = f"{r['consolidate_MiBps']:15.0f}" if "consolidate_MiBps" in r else f"{'-':>15}"
        print(
            f"{r['store']:24}{r['files']:7d}{r['files_ratio']:8.3f}{r['write_MiBps']:13.0f}{r['write_ratio']:7.2f}"
            f"{r['read_MiBps']:12.0f}{r['read_ratio']:7.2f}{r['slice_s'] * 1e3:13.1f}{r['slice_ratio']:7.2f}{cons}"
        )


W2_CASES: list[tuple[str, Callable[[Path], Any]]] = [
    ("directory", lambda p: zarr.storage.LocalStore(p)),
    ("h5 write_direct", lambda p: H5ContainerStore(p)),
    ("h5 loose+consolidate", lambda p: H5ContainerStore(p, write_direct=False)),
    ("zip loose+consolidate", lambda p: ZipContainerStore(p)),
    ("sqlite (one file)", lambda p: _sqlite(p)),
]


def _sqlite(root: Path) -> Any:
    from nwbzarr.storage import SQLiteStore

    root.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(root / "w2.sqldb")


def run_w2_case(name: str, root: Path, store: Any, nwbfile: Any) -> dict:
    """Write W2 with NWBZarrIO (then consolidate, for loose container stores), open and read() it."""
    from nwbzarr import NWBZarrIO

    out: dict[str, Any] = {"store": name}

    def write() -> None:
        with NWBZarrIO(store, mode="w") as io:
            io.write(nwbfile)

    out["write_s"] = timed(write)
    if isinstance(store, (H5ContainerStore, ZipContainerStore)) and not store.write_direct:
        out["consolidate_s"] = timed(lambda: store.consolidate(parallel=2))
    holder: dict[str, Any] = {}

    def open_read() -> None:
        holder["io"] = NWBZarrIO(store, mode="r")
        holder["nwb"] = holder["io"].read()

    out["read_s"] = timed(open_read)
    if len(holder["nwb"].acquisition) != len(nwbfile.acquisition):
        raise AssertionError(f"{name}: W2 read back has {len(holder['nwb'].acquisition)} TimeSeries")
    holder["io"].close()
    out["files"] = count_files(root)
    return out


def print_w2_table(results: list[dict]) -> None:
    ref = results[0]
    print("\nW2 NWB file (2,000 TimeSeries, 10k units); ratios vs the directory store")
    print(f"{'store':24}{'files':>8}{'x dir':>8}{'write s':>9}{'x dir':>7}{'consol. s':>11}{'open+read s':>13}{'x dir':>7}")
    for r in results:
        total = r["write_s"] + r.get("consolidate_s", 0.0)
        r["files_ratio"] = r["files"] / ref["files"]
        r["write_ratio"] = total / (ref["write_s"])
        r["read_ratio"] = r["read_s"] / ref["read_s"]
        cons = f"{r['consolidate_s']:11.2f}" if "consolidate_s" in r else f"{'-':>11}"
        print(f"{r['store']:24}{r['files']:8d}{r['files_ratio']:8.4f}{r['write_s']:9.2f}{r['write_ratio']:7.2f}"
              f"{cons}{r['read_s']:13.2f}{r['read_ratio']:7.2f}")


def run_w2(work: Path, quick: bool, rounds: int) -> list[dict]:
    """Every W2 case ``rounds`` times, cases interleaved within a round; each figure is the median over
    rounds (a single pass in fixed order favoured whichever case ran first by 20-30% on this machine)."""
    from .workloads import PRESETS, build_w2

    params = PRESETS["quick" if quick else "full"]["W2"]
    runs: dict[str, list[dict]] = {name: [] for name, _ in W2_CASES}
    for _ in range(rounds):
        for name, make_store in W2_CASES:
            root = work / ("w2_" + name.replace(" ", "_").replace("+", "_").replace("(", "").replace(")", ""))
            runs[name].append(run_w2_case(name, root, make_store(root), build_w2(params)))
            remove_and_settle(root)
    results = [_median_run(name, cases) for name, cases in runs.items()]
    print_w2_table(results)
    return results


def _median_run(name: str, cases: list[dict]) -> dict:
    out: dict[str, Any] = {"store": name, "rounds": len(cases), "files": cases[-1]["files"]}
    for field in ("write_s", "consolidate_s", "read_s"):
        if field in cases[0]:
            out[field] = statistics.median(c[field] for c in cases)
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1/8 of the rows, fewer slice reads")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--workdir", type=Path, help="where to write the stores (default: a temp dir)")
    parser.add_argument("--only", choices=["W1", "W2"], help="run one workload only")
    parser.add_argument("--w2-rounds", type=int, help="W2 rounds, cases interleaved (default 3; quick 1)")
    args = parser.parse_args(argv)
    rows, repeats = (ROWS // 8, 5) if args.quick else (ROWS, 15)
    data = make_data(rows)
    work = Path(tempfile.mkdtemp(prefix="fewfiles_bench_", dir=args.workdir))
    results: list[dict] = []
    w2: list[dict] = []
    try:
        if args.only != "W2":
            for name, make_store, create in CASES:
                root = work / name.replace(" ", "_").replace("+", "_")
                results.append(run_case(name, root, make_store(root), data, repeats, **create))
                remove_and_settle(root)
            add_ratios(results)
            print_table(results, data.nbytes)
        if args.only != "W1":
            w2 = run_w2(work, args.quick, args.w2_rounds or (1 if args.quick else 3))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "cols": COLS, "chunks": CHUNKS, "results": results,
                                         "w2": w2}, indent=2))
    return results + w2


if __name__ == "__main__":
    main()
