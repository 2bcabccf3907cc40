"""Run benchmark tasks, each in a fresh subprocess, and collect medians, peak RSS and disk usage.

Parent side: ``run_workload`` writes each backend ``repeats`` times (interleaving backends so that
load from other processes spreads over all of them), then runs every read measurement ``repeats``
times on the last file written. The child's peak RSS comes from ``os.wait4`` (the kernel's rusage
of that one child). Child side: ``python -m benchmarks.runner --child '<task json>'`` runs one task
from ``benchmarks.tasks`` and prints its result as one JSON line.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import tasks
from . import workloads as wl
from .floor import floor_beside, io_floor

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCH-RESULT "
TRASH = "set-aside"  # previous outputs, deleted once nothing is timed (see ``set_aside``)


class ChildError(RuntimeError):
    """A benchmark subprocess failed; the message carries its stderr tail."""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p)
    return env


def run_child(task: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run ``task`` in a fresh interpreter; its result plus ``maxrss_mib`` of that child."""
    cmd = [sys.executable, "-m", "benchmarks.runner", "--child", json.dumps(task)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=_child_env(), cwd=str(REPO_ROOT))
        _pid, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise ChildError(f"{task['workload']} {task['backend']} {task['measure']} exited "
                         f"{proc.returncode}:\n{stderr[-4000:]}")
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    result = json.loads(lines[-1][len(RESULT_PREFIX):])
    result["maxrss_mib"] = rusage.ru_maxrss / 1024.0  # Linux reports KiB
    return result


def disk_usage(path: Path) -> dict[str, int]:
    """Files under ``path`` and their total size in bytes (apparent sizes)."""
    files = 0
    size = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            files += 1
            size += os.lstat(os.path.join(root, name)).st_size
    return {"files": files, "bytes": size}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median seconds and peak RSS over runs, every run's seconds, and the last run's extras."""
    seconds = [r["seconds"] for r in runs]
    extras = {k: v for k, v in runs[-1].items() if k not in ("seconds", "maxrss_mib")}
    for key in [k for k in extras if k.endswith(("_s", "_x")) and all(k in r for r in runs)]:
        extras[key] = statistics.median(r[key] for r in runs)  # a timed part of each run (or a ratio): its median too
        if key.endswith("_x"):
            extras[key[:-2] + "_runs"] = [r[key] for r in runs]
    return {
        **extras,
        "median_s": statistics.median(seconds),
        "runs_s": seconds,
        "maxrss_mib": statistics.median(r["maxrss_mib"] for r in runs),
    }


def _task(workload: str, params: Any, backend: str, measure: str, workdir: Path) -> dict[str, Any]:
    return {
        "workload": workload,
        "params": wl.params_to_dict(params),
        "backend": backend,
        "measure": measure,
        "path": str(workdir / workload / backend),
        "workdir": str(workdir),
    }


def _log(progress: Callable[[str], None] | None, message: str) -> None:
    if progress is not None:
        progress(message)


def set_aside(path: Path, workdir: Path) -> None:
    """Move a previous run's output out of the way (one rename) instead of deleting it: on this project's
    machines (ext4 mounted with online ``discard``) deleting a tree of 10,000 files slows the file creation
    that follows for tens of seconds, which billed one backend's clean-up to the next one's write (a 10k-file
    write: 0.5 s after no deletion, 4-6 s right after one).  ``remove_set_aside`` deletes them all once
    nothing is timed any more."""
    if path.exists():
        trash = workdir / TRASH
        trash.mkdir(parents=True, exist_ok=True)
        path.rename(trash / f"{path.parent.name}-{path.name}-{time.monotonic_ns()}")


def remove_set_aside(workdir: Path) -> None:
    """Delete what ``set_aside`` and the I/O floor kept (after the last timed operation)."""
    shutil.rmtree(Path(workdir) / TRASH, ignore_errors=True)


def _write_all(workload: str, params: Any, backends: list[str], repeats: int, workdir: Path,
               progress: Callable[[str], None] | None) -> dict[str, list[dict[str, Any]]]:
    """Write every backend ``repeats`` times (fresh output directory each time)."""
    runs: dict[str, list[dict[str, Any]]] = {b: [] for b in backends}
    for r in range(repeats):
        for b in backends:
            task = _task(workload, params, b, "write", workdir)
            set_aside(Path(task["path"]), workdir)
            os.sync()  # earlier outputs' dirty pages flushed: no write is throttled by another one's writeback
            result = run_child(task)
            if workload == "W2" and b == "zarr-dir" and result.get("write_builder_s"):  # issue 17's floor target
                store = tasks.data_location(tasks.BACKENDS[b], Path(task["path"]))
                result["floor_beside_s"] = floor_beside(store, workdir / TRASH / "floor")
                result["plan_over_floor_x"] = result["write_builder_s"] / result["floor_beside_s"]
            runs[b].append(result)
            _log(progress, f"{workload} {b} write #{r + 1}: {result['seconds']:.3f} s")
    return runs


def _read_all(workload: str, params: Any, backends: list[str], repeats: int, workdir: Path,
              progress: Callable[[str], None] | None) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Run each read measurement ``repeats`` times per backend, interleaving backends."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {b: {} for b in backends}
    for measure in tasks.WORKLOAD_MEASURES[workload]:
        for r in range(repeats):
            for b in backends:
                result = run_child(_task(workload, params, b, measure, workdir))
                runs[b].setdefault(measure, []).append(result)
                _log(progress, f"{workload} {b} {measure} #{r + 1}: {result['seconds']:.4f} s")
    return runs


def run_workload(workload: str, params: Any, backends: list[str], repeats: int, workdir: Path,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """All measurements of one workload: ``{"params", "backends": {name: figures}}``."""
    workdir = Path(workdir)
    if workload == "W1":
        run_child(_task(workload, params, backends[0], "prepare", workdir))
    writes = _write_all(workload, params, backends, repeats, workdir, progress)
    disk = {b: disk_usage(Path(_task(workload, params, b, "write", workdir)["path"])) for b in backends}
    reads = _read_all(workload, params, backends, repeats, workdir, progress)
    figures: dict[str, Any] = {}
    for b in backends:
        entry: dict[str, Any] = {"label": tasks.BACKENDS[b].label, "write": _summary(writes[b]), **disk[b]}
        for measure, runs in reads[b].items():
            entry[measure] = _summary(runs)
        if workload == "W1":
            entry["write_gbps"] = params.nbytes / entry["write"]["median_s"] / 1e9
        figures[b] = entry
    out = {"params": wl.params_to_dict(params), "backends": figures}
    if workload == "W2" and "zarr-dir" in backends:  # issue 17: the plan's execution against plain os calls
        store = tasks.data_location(tasks.BACKENDS["zarr-dir"], Path(_task(workload, params, "zarr-dir", "write",
                                                                          workdir)["path"]))
        _log(progress, "W2 I/O floor: recreating the directory store's tree with plain os calls")
        out["io_floor"] = io_floor(store, workdir / TRASH / "floor", repeats=max(1, repeats))
    return out


def child_main(task_json: str) -> None:
    """Entry point of a benchmark subprocess: run the task, print the result line."""
    result = tasks.run_task(json.loads(task_json))
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child_main(sys.argv[2])
    else:
        sys.exit("usage: python -m benchmarks.runner --child '<task json>' (use python -m benchmarks)")
