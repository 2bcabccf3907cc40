"""What one benchmark subprocess does: set up untimed, then time exactly one operation.

A task is a small JSON-able dict: ``workload`` (W1/W2), ``params`` (sizes), ``backend`` (a name in
``BACKENDS``), ``measure`` (a name in ``MEASURES``), ``path`` (the backend's output directory) and
``workdir`` (cache of generated W1 samples). ``run_task`` returns ``{"seconds": ...}`` plus extras.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import workloads as wl


@dataclass(frozen=True)
class Backend:
    """One storage configuration: ``kind`` hdf5 or zarr; ``store`` dir / sqlite / h5container / file;
    ``w1_wrap`` how W1's samples are wrapped (codec and chunks)."""

    name: str
    kind: str
    store: str
    w1_wrap: str
    label: str


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in [
        Backend("hdf5", "hdf5", "file", "hdf5", "HDF5 (NWBHDF5IO), uncompressed"),
        Backend("hdf5-gzip", "hdf5", "file", "hdf5-gzip", "HDF5 (NWBHDF5IO), gzip 4"),
        Backend("zarr-dir", "zarr", "dir", "zarr-default", "nwbzarr, directory store, default codec"),
        Backend("zarr-dir-raw", "zarr", "dir", "zarr-none", "nwbzarr, directory store, uncompressed"),
        Backend("zarr-sqlite", "zarr", "sqlite", "zarr-default", "nwbzarr, SQLiteStore, default codec"),
        Backend("zarr-h5c", "zarr", "h5container", "zarr-default", "nwbzarr, H5ContainerStore, default codec"),
    ]
}


def data_location(backend: Backend, path: Path) -> Path:
    """The file or directory the backend writes inside its own output directory ``path``."""
    suffix = {"file": "nwb.h5", "dir": "nwb.zarr", "sqlite": "nwb.sqlite", "h5container": "nwb.h5c"}
    return Path(path) / suffix[backend.store]


def _zarr_target(backend: Backend, location: Path, read_only: bool) -> Any:
    """A path (directory store) or a zarr 3 Store instance for the single-file stores."""
    if backend.store == "dir":
        return str(location)
    if backend.store == "sqlite":
        from nwbzarr.storage import SQLiteStore

        return SQLiteStore(location, read_only=read_only)
    if backend.store == "h5container":
        from nwbzarr.storage import H5ContainerStore

        return H5ContainerStore(location, read_only=read_only)
    raise ValueError(f"unknown store {backend.store!r}")


def open_io(backend: Backend, path: Path, mode: str) -> Any:
    """An open NWBHDF5IO or NWBZarrIO on the backend's data location."""
    location = data_location(backend, path)
    if backend.kind == "hdf5":
        from pynwb import NWBHDF5IO

        return NWBHDF5IO(str(location), mode)
    from nwbzarr import NWBZarrIO

    return NWBZarrIO(_zarr_target(backend, location, read_only=(mode == "r")), mode=mode)


def build_nwbfile(task: dict[str, Any], backend: Backend) -> Any:
    """The workload's NWBFile, with W1's samples wrapped for this backend."""
    params = wl.params_from_dict(task["workload"], task["params"])
    if task["workload"] == "W1":
        data = wl.load_or_make_w1(Path(task["workdir"]), params)
        return wl.build_w1(wl.wrap_w1(data, params, backend.w1_wrap), params)
    return wl.build_w2(params)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of ``fn()``; profiled with pyinstrument when a profile path is set."""
    if _PROFILE.get("path"):
        return _profiled(fn, _PROFILE["path"])
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


_PROFILE: dict[str, str | None] = {"path": None}


def _profiled(fn: Callable[[], Any], path: str) -> tuple[float, Any]:
    """Run ``fn`` under pyinstrument; write its text and HTML reports next to ``path``."""
    try:
        from pyinstrument import Profiler
    except ImportError as err:
        raise SystemExit("python -m benchmarks.profile needs pyinstrument: pip install -e '.[bench]'") from err
    profiler = Profiler(interval=0.0005)
    t0 = time.perf_counter()
    profiler.start()
    out = fn()
    profiler.stop()
    seconds = time.perf_counter() - t0
    Path(path).write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    Path(path).with_suffix(".html").write_text(profiler.output_html())
    return seconds, out


def measure_write(task: dict[str, Any], backend: Backend) -> dict[str, Any]:
    """Build the file (untimed); time opening the IO, ``write`` and closing it."""
    nwbfile = build_nwbfile(task, backend)
    Path(task["path"]).mkdir(parents=True, exist_ok=True)

    plan_seconds: list[float] = []

    def write() -> None:
        with open_io(backend, Path(task["path"]), "w") as io:
            if backend.kind == "zarr":  # the plan's execution, apart from hdmf's build (shared with HDF5)
                io.write_builder = _timing(io.write_builder, plan_seconds)
            io.write(nwbfile)

    seconds, _ = _timed(write)
    return {"seconds": seconds, **({"write_builder_s": sum(plan_seconds)} if plan_seconds else {})}


def _timing(fn: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
    """``fn``, appending the seconds of each call to ``into``."""
    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - t0)

    return timed


@contextmanager
def _opened(task: dict[str, Any], backend: Backend):
    """The file read (untimed) for the measurements that follow ``read()``."""
    io = open_io(backend, Path(task["path"]), "r")
    try:
        yield io.read()
    finally:
        io.close()


def measure_read(task: dict[str, Any], backend: Backend) -> dict[str, Any]:
    """Time opening the IO and ``read()``; closing is not timed."""
    holder: list[Any] = []

    def open_and_read() -> Any:
        io = open_io(backend, Path(task["path"]), "r")
        holder.append(io)
        return io.read()

    seconds, nwbfile = _timed(open_and_read)
    n_objects = len(nwbfile.objects)
    holder[0].close()
    return {"seconds": seconds, "objects": n_objects}


def measure_slice(task: dict[str, Any], backend: Backend) -> dict[str, Any]:
    """W1: time reading the first ``slice_rows`` rows x all channels of the ElectricalSeries."""
    params = wl.params_from_dict("W1", task["params"])
    with _opened(task, backend) as nwbfile:
        data = nwbfile.acquisition["es"].data
        seconds, out = _timed(lambda: data[: params.slice_rows])
        assert out.shape == (params.slice_rows, params.cols), out.shape
    return {"seconds": seconds}


def measure_series(task: dict[str, Any], backend: Backend) -> dict[str, Any]:
    """W2: time reading one whole TimeSeries' data."""
    params = wl.params_from_dict("W2", task["params"])
    with _opened(task, backend) as nwbfile:
        data = nwbfile.acquisition[wl.probe_series(params)].data
        seconds, out = _timed(lambda: data[:])
        assert len(out) == params.series_len, len(out)
    return {"seconds": seconds}


def _iterate_spikes(units: Any) -> int:
    total = 0
    column = units["spike_times"]
    for i in range(len(units)):
        total += len(column[i])
    return total


def measure_spikes(task: dict[str, Any], backend: Backend) -> dict[str, Any]:
    """W2: time ``for i in range(len(units)): units["spike_times"][i]``."""
    with _opened(task, backend) as nwbfile:
        units = nwbfile.units
        seconds, total = _timed(lambda: _iterate_spikes(units))
    return {"seconds": seconds, "spikes": total}


def measure_prepare(task: dict[str, Any], backend: Backend) -> dict[str, Any]:
    """Generate and cache W1's samples once, outside any timed run."""
    params = wl.params_from_dict("W1", task["params"])
    wl.load_or_make_w1(Path(task["workdir"]), params)
    return {"seconds": 0.0}


MEASURES: dict[str, Callable[[dict[str, Any], Backend], dict[str, Any]]] = {
    "write": measure_write,
    "read": measure_read,
    "slice": measure_slice,
    "series": measure_series,
    "spikes": measure_spikes,
    "prepare": measure_prepare,
}

# Which read measurements apply to which workload (write always comes first).
WORKLOAD_MEASURES = {"W1": ["read", "slice"], "W2": ["read", "series", "spikes"]}


def preload() -> None:
    """Import every library up front, so that no timed operation pays for an import."""
    import h5py  # noqa: F401
    import hdmf.backends.hdf5  # noqa: F401
    import pynwb  # noqa: F401
    import zarr  # noqa: F401

    import nwbzarr
    import nwbzarr.format.legacy  # the layouts load on the first open: imported here so no timed open compiles them
    import nwbzarr.format.v3
    import nwbzarr.storage  # noqa: F401


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task in this process (libraries imported first, untimed) and return its result dict."""
    preload()
    backend = BACKENDS[task["backend"]]
    return MEASURES[task["measure"]](task, backend)
