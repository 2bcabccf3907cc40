"""Command line: ``python -m benchmarks [--quick] [--only W1|W2|remote] [--out results.json]``.

Prints progress to stderr, the markdown tables and target checks to stdout, and saves the JSON report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from . import remote_bench, remote_report, report, runner, tasks
from .workloads import PRESETS

DEFAULT_BACKENDS = {
    "W1": ["hdf5", "hdf5-gzip", "zarr-dir", "zarr-dir-raw", "zarr-sqlite", "zarr-h5c"],
    "W2": ["hdf5", "zarr-dir", "zarr-sqlite", "zarr-h5c"],
}
# --quick drops the HDF5-container store to stay under 2 minutes (every figure is a fresh interpreter)
QUICK_BACKENDS = {w: [b for b in names if b != "zarr-h5c"] for w, names in DEFAULT_BACKENDS.items()}
DEFAULT_REPEATS = {"full": 3, "quick": 1, "tiny": 1}


def machine_info() -> dict[str, Any]:
    """Core count, CPU model (from /proc/cpuinfo) and RAM of this machine."""
    cpu = platform.processor() or "unknown"
    ram_gib = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = int(line.split()[1]) / 2**20
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": ram_gib, "python": platform.python_version()}


def package_versions() -> dict[str, str]:
    out = {}
    for name in ["nwbzarr", "zarr", "pynwb", "hdmf", "h5py", "numpy"]:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "?"
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, one run per figure (< 2 minutes)")
    size.add_argument("--tiny", action="store_true", help="minimal sizes, for the smoke test")
    p.add_argument("--only", choices=["W1", "W2", "remote"],
                   help="run one workload only, or the remote suite (issue 16; not part of the default run)")
    p.add_argument("--repeats", type=int, help="runs per figure (median); default 3 (1 with --quick)")
    p.add_argument("--backends", help="comma-separated subset of: " + ", ".join(tasks.BACKENDS) + "; with "
                   "--only remote: " + ", ".join([*remote_bench.CLIENTS, *remote_bench.WRITERS]))
    p.add_argument("--out", default="benchmark_results.json", help="where to save the JSON report")
    p.add_argument("--workdir", help="where files are written (default: a temporary directory, removed)")
    p.add_argument("--keep", action="store_true", help="keep the written files")
    p.add_argument("--delay-ms", type=float, default=20.0,
                   help="remote suite: delay the servers add to every request (default 20)")
    p.add_argument("--max-connections", type=int, default=32,
                   help="remote suite: requests a server answers at once; more wait (default 32)")
    return p.parse_args(argv)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _backends_for(workload: str, chosen: str | None, preset: str) -> list[str]:
    """The backends to run: the preset's defaults, or the chosen ones valid for ``workload`` (+ hdf5)."""
    if not chosen:
        return (QUICK_BACKENDS if preset == "quick" else DEFAULT_BACKENDS)[workload]
    wanted = [b.strip() for b in chosen.split(",") if b.strip()]
    unknown = [b for b in wanted if b not in tasks.BACKENDS]
    if unknown:
        raise SystemExit(f"unknown backends: {', '.join(unknown)}")
    names = [b for b in wanted if b in DEFAULT_BACKENDS[workload]]
    return names if "hdf5" in names else ["hdf5"] + names


def _meta(preset: str, repeats: int) -> dict[str, Any]:
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "preset": preset,
        "repeats": repeats,
        "machine": machine_info(),
        "versions": package_versions(),
    }


def run_remote_suite(args: argparse.Namespace, workdir: Path, preset: str, repeats: int) -> dict[str, Any]:
    """The remote suite's report dict (meta, remote, targets)."""
    remote = remote_bench.run_remote(PRESETS[preset], repeats, remote_bench.choose(args.backends), workdir,
                                     args.delay_ms, args.max_connections, _progress)
    return {"meta": _meta(preset, repeats), "remote": remote, "targets": remote_report.check_targets(remote)}


def run_suite(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Run the selected workloads and return the full report dict (meta, workloads, targets)."""
    preset = "quick" if args.quick else "tiny" if args.tiny else "full"
    repeats = args.repeats or DEFAULT_REPEATS[preset]
    if args.only == "remote":
        return run_remote_suite(args, workdir, preset, repeats)
    workloads = [args.only] if args.only else ["W1", "W2"]
    results = {}
    for workload in workloads:
        backends = _backends_for(workload, args.backends, preset)
        results[workload] = runner.run_workload(workload, PRESETS[preset][workload], backends, repeats,
                                                workdir, _progress)
    runner.remove_set_aside(workdir)
    return {
        "meta": _meta(preset, repeats),
        "workloads": results,
        "targets": report.check_targets(results),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="nwbzarr-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        result = run_suite(args, workdir)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(remote_report.markdown(result) if "remote" in result else report.markdown(result))
    print(f"JSON saved to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
