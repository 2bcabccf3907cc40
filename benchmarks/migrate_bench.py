"""Migration benchmark: peak memory (RSS) and speed of ``nwbzarr migrate`` on a 2 GiB dataset.

``python -m benchmarks.migrate_bench [--quick] [--size-mib N] [--workdir DIR]``. Builds a legacy
(Zarr v2) store holding one float64 dataset of 2 GiB (256 MiB with --quick) in 4 MiB blosc chunks,
migrates it v2 -> v3 and back v3 -> v2 (each in a fresh process, verification included), and reports
each run's peak resident memory against the 500 MiB target of issue 3.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_MIB = 500
COLUMNS = 64
CHUNK_ROWS = 8192  # 8192 x 64 x 8 bytes = 4 MiB per chunk

CHILD = """
import json, resource, sys, time
from nwbzarr.migrate import migrate
t = time.perf_counter()
report = migrate(sys.argv[1], sys.argv[2], sys.argv[3], progress=False)
elapsed = time.perf_counter() - t
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"ok": report.ok, "verified": report.verified, "seconds": elapsed,
                  "peak_mib": peak_kib / 1024, "bytes": report.bytes_read}))
"""

BASELINE = """
import json, resource
import nwbzarr.migrate, nwbzarr.format.legacy, nwbzarr.format.v3  # noqa: F401
print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_legacy_store(path: Path, size_mib: int) -> int:
    """A minimal HDMF-style legacy store with one float64 dataset of ``size_mib`` MiB, written chunk by chunk."""
    import numcodecs
    import zarr

    rows = (size_mib << 20) // (COLUMNS * 8)
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.attrs.update({"namespace": "bench", "neurodata_type": "Root", "object_id": "root"})
    group = root.create_group("acquisition").create_group("big")
    group.attrs.update({"neurodata_type": "Series", "object_id": "big"})
    blosc = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
    arr = group.create_array("data", shape=(rows, COLUMNS), chunks=(CHUNK_ROWS, COLUMNS), dtype="<f8",
                             compressors=blosc, filters=None, fill_value=0.0)
    arr.attrs["zarr_dtype"] = "float64"
    for start in range(0, rows, CHUNK_ROWS * 8):
        stop = min(rows, start + CHUNK_ROWS * 8)
        block = np.arange(start * COLUMNS, stop * COLUMNS, dtype="<f8").reshape(-1, COLUMNS)
        arr[start:stop] = np.sin(block) * 1000.0  # compresses a little, unlike a ramp
    zarr.consolidate_metadata(str(path), zarr_format=2)
    return rows * COLUMNS * 8


def run_child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 256 MiB dataset instead of 2 GiB")
    parser.add_argument("--size-mib", type=int, default=None, help="dataset size in MiB (overrides --quick)")
    parser.add_argument("--workdir", default=None, help="where to build the stores (default: a temporary folder)")
    args = parser.parse_args()
    size = args.size_mib or (256 if args.quick else 2048)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="nwbzarr-migrate-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        src, v3, v2 = work / "src.v2.zarr", work / "mid.v3.zarr", work / "back.v2.zarr"
        t = time.perf_counter()
        nbytes = make_legacy_store(src, size)
        print(f"built a legacy store with a {nbytes / 2**20:.0f} MiB float64 dataset "
              f"in {time.perf_counter() - t:.1f} s (chunks {CHUNK_ROWS}x{COLUMNS}, 4 MiB)")
        base = run_child(BASELINE)
        print(f"baseline (python + nwbzarr imported): {base['peak_mib']:.0f} MiB")
        print(f"{'direction':<10} {'data':>9} {'seconds':>8} {'MiB/s':>7} {'peak RSS':>9}  verified  target")
        worst = 0.0
        for label, a, b, to in (("v2 -> v3", src, v3, "v3"), ("v3 -> v2", v3, v2, "v2")):
            r = run_child(CHILD, str(a), str(b), to)
            worst = max(worst, r["peak_mib"])
            rate = nbytes / 2**20 / r["seconds"]
            verdict = "ok" if r["peak_mib"] < TARGET_MIB else f"OVER {TARGET_MIB} MiB"
            print(f"{label:<10} {nbytes / 2**20:>7.0f}Mi {r['seconds']:>8.1f} {rate:>7.0f} "
                  f"{r['peak_mib']:>6.0f} MiB  {r['verified']!s:<8}  {verdict}")
        print(f"peak RSS of the worst run: {worst:.0f} MiB (target < {TARGET_MIB} MiB, "
              f"dataset {nbytes / 2**20:.0f} MiB; time includes verification, which re-reads the target)")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
