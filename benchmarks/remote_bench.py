"""The remote suite (issue 16): W1 and W2 read over HTTP and from moto's S3 by several clients, and W2
written to S3 against the same write to a local directory.

Run by ``python -m benchmarks --only remote``. The parent writes the files once (untimed; a Zarr
directory store by nwbzarr and an HDF5 file by NWBHDF5IO per workload), serves them with
``benchmarks.remote_server`` (a fixed delay per request, a cap on requests served at once, counters),
uploads the Zarr stores to a moto S3 bucket, then runs every client ``repeats`` times, each time in a
fresh subprocess (``benchmarks.remote_tasks``), clients interleaved within a round.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from . import runner
from . import workloads as wl
from .remote_server import Served, serve_directory, serve_s3
from .remote_tasks import RESULT_PREFIX

BUCKET = "bench"
S3_CREDENTIALS = {"key": "testing", "secret": "testing"}
CHILD_TIMEOUT_S = 1200.0
HDMF_ZARR_VENV = Path(os.environ.get("NWBZARR_BENCH_VENVS", Path.home() / ".cache" / "nwbzarr-bench-venvs")) / \
    "hdmf-zarr-0.14-remote"
HDMF_ZARR_REQUIREMENTS = ["hdmf-zarr==0.14.0", "aiohttp", "requests", "fsspec"]
MEASURES = {"W1": ["read", "slice"], "W2": ["read", "series", "spikes"]}


@dataclass(frozen=True)
class Client:
    """One way of reading a remote file: ``reader`` (a key of remote_tasks.READERS), ``source`` (zarr over
    http, hdf5 over http, or zarr on s3), ``needs`` (a module the parent checks before running it)."""

    name: str
    reader: str
    source: str
    label: str
    needs: str | None = None


CLIENTS: dict[str, Client] = {
    c.name: c
    for c in [
        Client("nwbzarr-http", "nwbzarr", "zarr-http", "nwbzarr, fsspec client (FsspecStore)"),
        Client("nwbzarr-obstore-http", "nwbzarr-obstore", "zarr-http", "nwbzarr, obstore client (the default for reads)",
               needs="obstore"),
        Client("hdmf-zarr-0.14-http", "hdmf-zarr-0.14", "zarr-http", "hdmf-zarr 0.14 (its own venv)"),
        Client("hdf5-fsspec-http", "hdf5-fsspec", "hdf5-http",
               "NWBHDF5IO, fsspec HTTPFileSystem.open + h5py.File"),
        Client("hdf5-remfile-http", "hdf5-remfile", "hdf5-http", "NWBHDF5IO, remfile.File + h5py.File",
               needs="remfile"),
        Client("nwbzarr-s3", "nwbzarr", "zarr-s3", "nwbzarr, fsspec client, moto S3"),
        Client("nwbzarr-obstore-s3", "nwbzarr-obstore", "zarr-s3", "nwbzarr, obstore client (default), moto S3",
               needs="obstore"),
        # no network at all: the same files read from their folder, the floor any remote client stands on
        Client("nwbzarr-local", "nwbzarr-local", "zarr-local", "nwbzarr, the same store on local disk (floor)"),
        Client("hdf5-local", "hdf5-local", "hdf5-local", "NWBHDF5IO, the same file on local disk (floor)"),
    ]
}
WRITERS = {"write-local": "nwbzarr, local directory", "write-s3": "nwbzarr, moto S3 (s3:// URL)"}
HDMF_ZARR = "hdmf-zarr-0.14-http"
HDF5_REFERENCE = "hdf5-fsspec-http"


@dataclass
class Setup:
    """What the children need: the servers, the data root and the hdmf-zarr interpreter (or why not)."""

    http: Served
    s3: Served
    data: Path
    hdmf_zarr_python: Path | None
    skipped: dict[str, str]


def choose(names: str | None) -> list[str]:
    """The clients and writers to run: all, or the comma-separated names given (checked)."""
    everything = list(CLIENTS) + list(WRITERS)
    if not names:
        return everything
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in everything]
    if unknown:
        raise SystemExit(f"unknown remote benchmark backends: {', '.join(unknown)} "
                         f"(choose from {', '.join(everything)})")
    return wanted


# --- hdmf-zarr 0.14's interpreter --------------------------------------------------------------------


def python312() -> str | None:
    """A Python >= 3.12 interpreter (hdmf-zarr 0.14 needs it): pyenv's, else python3.12 on PATH."""
    candidates = [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.1[2-9]*/bin/python3"))]
    candidates.append(shutil.which("python3.12") or "")
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:
            return candidate
    return None


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path, thread_local=False):  # flock on POSIX, LockFileEx on Windows: no fcntl needed
        yield


def hdmf_zarr_python(progress: Callable[[str], None]) -> tuple[Path | None, str]:
    """The benchmark venv's interpreter with hdmf-zarr 0.14 (built on first use, under a file lock),
    or (None, why not)."""
    python = HDMF_ZARR_VENV / "bin" / "python"
    with _file_lock(HDMF_ZARR_VENV.parent / f".{HDMF_ZARR_VENV.name}.lock"):
        probe = [str(python), "-c", "import hdmf_zarr, fsspec, aiohttp, requests"]
        if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
            return python, ""
        base = python312()
        if base is None:
            return None, "hdmf-zarr 0.14 needs Python >= 3.12, and no python3.12 exists here"
        progress(f"building {HDMF_ZARR_VENV} (hdmf-zarr 0.14) with {base}")
        subprocess.run([base, "-m", "venv", "--clear", str(HDMF_ZARR_VENV)], check=True)
        install = subprocess.run([str(python), "-m", "pip", "install", "-q", *HDMF_ZARR_REQUIREMENTS],
                                 capture_output=True, text=True)
        if install.returncode != 0:
            return None, f"pip install {' '.join(HDMF_ZARR_REQUIREMENTS)} failed: {install.stderr[-500:]}"
    return python, ""


# --- data ------------------------------------------------------------------------------------------


def prepare_files(workloads: list[str], presets: dict[str, Any], data: Path,
                  progress: Callable[[str], None]) -> None:
    """Write each workload once as a Zarr directory store (nwbzarr) and an HDF5 file (NWBHDF5IO)."""
    data.mkdir(parents=True, exist_ok=True)
    for workload in workloads:
        params = presets[workload]
        if workload == "W1":
            runner.run_child(runner._task(workload, params, "zarr-dir", "prepare", data))
        for backend in ["zarr-dir", "hdf5"]:
            task = runner._task(workload, params, backend, "write", data)
            shutil.rmtree(task["path"], ignore_errors=True)
            seconds = runner.run_child(task)["seconds"]
            progress(f"remote: wrote {workload} {backend} for serving ({seconds:.1f} s)")


def zarr_path(workload: str) -> str:
    return f"{workload}/zarr-dir/nwb.zarr"


def upload_stores(s3: Served, workloads: list[str], data: Path, progress: Callable[[str], None]) -> None:
    """Create the bucket (over HTTP) and put the Zarr stores' objects into it, untimed.

    The objects go straight into moto's S3 backend, which runs in this process: W2's 10,000 objects took
    50 s as HTTP PUTs (moto's CPU per request), 0.6 s this way; the bucket and objects are the same."""
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    client = boto3.client("s3", endpoint_url=s3.base_url, region_name="us-east-1",
                          aws_access_key_id=S3_CREDENTIALS["key"], aws_secret_access_key=S3_CREDENTIALS["secret"])
    client.create_bucket(Bucket=BUCKET)
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    for workload in workloads:
        root = data / zarr_path(workload)
        files = [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            backend.put_object(BUCKET, f"{zarr_path(workload)}/{path.relative_to(root).as_posix()}", path.read_bytes())
        progress(f"remote: uploaded {workload} ({len(files)} objects) to s3://{BUCKET}")


# --- children --------------------------------------------------------------------------------------


class RemoteChildError(RuntimeError):
    """A remote-benchmark subprocess failed; the message carries its stderr tail."""


def run_remote_child(task: dict[str, Any], python: Path | str = sys.executable) -> dict[str, Any]:
    """Run ``task`` in a fresh interpreter (``python``: another venv's for hdmf-zarr); its result dict."""
    env = dict(os.environ)
    foreign = str(python) != sys.executable
    paths = [str(runner.REPO_ROOT)] + ([] if foreign else [env.get("PYTHONPATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    cmd = [str(python), "-m", "benchmarks.remote_tasks", "--child", json.dumps(task)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(cmd, stdout=out, stderr=err, env=env, cwd=str(runner.REPO_ROOT),
                                  timeout=CHILD_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise RemoteChildError(f"{task['client']} {task['workload']} timed out after {exc.timeout} s") from exc
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise RemoteChildError(f"{task['client']} {task['workload']} exited {proc.returncode}:\n{stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def _source_url(setup: Setup, client: Client, workload: str) -> tuple[str, Served]:
    if client.source == "zarr-http":
        return f"{setup.http.base_url}/{zarr_path(workload)}", setup.http
    if client.source == "hdf5-http":
        return f"{setup.http.base_url}/{workload}/hdf5/nwb.h5", setup.http
    if client.source == "zarr-local":  # counted by the HTTP server, which sees no request
        return str(setup.data / zarr_path(workload)), setup.http
    if client.source == "hdf5-local":
        return str(setup.data / workload / "hdf5" / "nwb.h5"), setup.http
    return f"s3://{BUCKET}/{zarr_path(workload)}", setup.s3


def read_task(setup: Setup, client: Client, workload: str, params: Any) -> dict[str, Any]:
    url, server = _source_url(setup, client, workload)
    return {"client": client.reader, "workload": workload, "params": wl.params_to_dict(params), "url": url,
            "stats_url": server.stats_url, "s3": {"endpoint": setup.s3.base_url, **S3_CREDENTIALS}}


def write_task(setup: Setup, writer: str, params: Any, round_no: int) -> dict[str, Any]:
    if writer == "write-s3":
        url = f"s3://{BUCKET}/writes/W2-{round_no}.nwb.zarr"
    else:
        url = str(setup.data / "writes" / f"W2-{round_no}" / "nwb.zarr")
        shutil.rmtree(Path(url).parent, ignore_errors=True)
        Path(url).parent.mkdir(parents=True)
    return {"client": "nwbzarr", "workload": "W2", "params": wl.params_to_dict(params), "url": url,
            "write": True, "stats_url": setup.s3.stats_url, "s3": {"endpoint": setup.s3.base_url, **S3_CREDENTIALS}}


# --- summaries -------------------------------------------------------------------------------------


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median time, every run's time, their max/min spread, and the median requests and bytes."""
    seconds = [r["seconds"] for r in runs]
    out: dict[str, Any] = {"median_s": statistics.median(seconds), "runs_s": seconds,
                           "spread": max(seconds) / min(seconds) if min(seconds) > 0 else None}
    if "requests" in runs[0]:
        out["requests"] = statistics.median(r["requests"] for r in runs)
        out["bytes"] = statistics.median(r["bytes_out"] + r["bytes_in"] for r in runs)
        out["peak_in_flight"] = max(r["peak_in_flight"] for r in runs)
        out["server_cpu_s"] = statistics.median(r["server_cpu_s"] for r in runs)
        out["methods"] = runs[-1]["methods"]  # of the last run
    extras = {k: v for k, v in runs[-1].items()
              if k not in ("seconds", "requests", "bytes_out", "bytes_in", "peak_in_flight", "methods", "server_cpu_s")}
    return {**extras, **out}


def _runs_by_measure(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_measure: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        for measure, figure in result.items():
            by_measure.setdefault(measure, []).append(figure)
    return by_measure


def _failed(errors: list[dict[str, str]], backend: str, workload: str) -> bool:
    return any(e["backend"] == backend and e["workload"] == workload for e in errors)


def _record_failure(errors: list[dict[str, str]], backend: str, workload: str, exc: Exception,
                    progress: Callable[[str], None]) -> None:
    """Keep a failed child's message for the report; its backend is not run again for that workload."""
    errors.append({"backend": backend, "workload": workload, "message": str(exc)})
    progress(f"remote: {backend} {workload} FAILED: {str(exc)[-800:]}")


def measure_reads(setup: Setup, workload: str, params: Any, clients: list[Client], repeats: int,
                  progress: Callable[[str], None], errors: list[dict[str, str]]) -> dict[str, Any]:
    """Every client ``repeats`` times (rounds of all clients), summarized per measurement."""
    results: dict[str, list[dict[str, Any]]] = {c.name: [] for c in clients}
    for round_no in range(repeats):
        for client in clients:
            if client.name in setup.skipped or _failed(errors, client.name, workload):
                continue
            python = setup.hdmf_zarr_python if client.name == HDMF_ZARR else sys.executable
            try:
                result = run_remote_child(read_task(setup, client, workload, params), python)
            except RemoteChildError as exc:
                _record_failure(errors, client.name, workload, exc, progress)
                continue
            results[client.name].append(result)
            progress(f"remote: {workload} {client.name} #{round_no + 1}: " + ", ".join(
                f"{m} {f['seconds']:.3f} s / {f['requests']} req" for m, f in result.items()))
    figures: dict[str, Any] = {}
    for client in clients:
        if results[client.name] and not _failed(errors, client.name, workload):
            summary = {m: summarize(runs) for m, runs in _runs_by_measure(results[client.name]).items()}
            figures[client.name] = {"label": client.label, **summary}
    return {"params": wl.params_to_dict(params), "backends": figures}


def measure_writes(setup: Setup, params: Any, writers: list[str], repeats: int,
                   progress: Callable[[str], None], errors: list[dict[str, str]]) -> dict[str, Any]:
    """W2 written by nwbzarr to each target ``repeats`` times (targets interleaved)."""
    results: dict[str, list[dict[str, Any]]] = {w: [] for w in writers}
    for round_no in range(repeats):
        for writer in writers:
            if _failed(errors, writer, "W2"):
                continue
            try:
                result = run_remote_child(write_task(setup, writer, params, round_no))["write"]
            except RemoteChildError as exc:
                _record_failure(errors, writer, "W2", exc, progress)
                continue
            results[writer].append(result)
            progress(f"remote: W2 {writer} #{round_no + 1}: {result['seconds']:.3f} s")
        shutil.rmtree(setup.data / "writes", ignore_errors=True)
    figures = {w: {"label": WRITERS[w], "write": summarize(runs)} for w, runs in results.items()
               if runs and not _failed(errors, w, "W2")}
    return {"params": wl.params_to_dict(params), "backends": figures}


def _unavailable(clients: list[Client], hdmf_python: Path | None, why_not: str) -> dict[str, str]:
    """Clients that cannot run here, and why."""
    skipped = {}
    for client in clients:
        if client.needs and importlib.util.find_spec(client.needs) is None:
            skipped[client.name] = f"{client.needs} is not installed (pip install {client.needs})"
        if client.name == HDMF_ZARR and hdmf_python is None:
            skipped[client.name] = why_not
    return skipped


def run_remote(presets: dict[str, Any], repeats: int, names: list[str], workdir: Path, delay_ms: float,
               max_connections: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """The whole remote suite; the ``remote`` part of the report."""
    clients = [CLIENTS[n] for n in names if n in CLIENTS]
    writers = [n for n in names if n in WRITERS]
    workloads = ["W1", "W2"] if clients else ["W2"]
    hdmf_python, why_not = (hdmf_zarr_python(progress) if any(c.name == HDMF_ZARR for c in clients)
                            else (None, ""))
    skipped = _unavailable(clients, hdmf_python, why_not)
    for name, reason in skipped.items():
        progress(f"remote: skipping {name}: {reason}")
    data = Path(workdir) / "remote"
    prepare_files(workloads, presets, data, progress)
    errors: list[dict[str, str]] = []
    out: dict[str, Any] = {"server": {"delay_ms": delay_ms, "max_connections": max_connections},
                           "workloads": {}, "skipped": skipped, "errors": errors}
    with serve_directory(data, delay_ms / 1e3, max_connections) as http, \
            serve_s3(delay_ms / 1e3, max_connections) as s3:
        upload_stores(s3, workloads, data, progress)
        setup = Setup(http, s3, data, hdmf_python, skipped)
        if clients:
            for workload in ["W2", "W1"]:
                out["workloads"][workload] = measure_reads(setup, workload, presets[workload], clients, repeats,
                                                           progress, errors)
        if writers:
            out["writes"] = measure_writes(setup, presets["W2"], writers, repeats, progress, errors)
    return out
