"""What one remote-benchmark subprocess does: open a remote file with one client, time each measurement.

A task (JSON) names a ``client`` (a key of ``READERS`` or ``WRITERS``), the ``workload`` and its
``params``, the ``url`` of the file, the server's ``stats_url`` and, for S3, ``s3`` (endpoint, bucket,
key). Readers time ``open + read()`` first, then the workload's reads on the file just read, each figure
with the requests and body bytes the server counted during exactly that operation. This module imports
nothing of nwbzarr at its top: hdmf-zarr 0.14's own venv (Python 3.12) runs it too.

``python -m benchmarks.remote_tasks --child '<task json>'`` prints one ``BENCH-RESULT`` JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from . import workloads as wl
from .remote_server import read_counters, reset_counters

RESULT_PREFIX = "BENCH-RESULT "
SPIKE_UNITS = 100  # "100 units' spike_times"


# --- how each client opens a file ---------------------------------------------------------------------


def _s3_options(task: dict[str, Any]) -> dict[str, Any]:
    s3 = task["s3"]
    return {"endpoint_url": s3["endpoint"], "key": s3["key"], "secret": s3["secret"]}


def _open_nwbzarr(task: dict[str, Any], mode: str = "r") -> Any:
    from nwbzarr import NWBZarrIO

    options = _s3_options(task) if task["url"].startswith("s3://") else {}
    if mode == "r":  # the fsspec client, compared with obstore (the default for reads) on every read figure
        options["remote_client"] = "fsspec"
    return NWBZarrIO(task["url"], mode, storage_options=options or None)


def _open_nwbzarr_obstore(task: dict[str, Any]) -> Any:
    """nwbzarr with zarr's ObjectStore on obstore, chosen as users choose it (``remote_client``)."""
    from nwbzarr import NWBZarrIO

    options = _s3_options(task) if task["url"].startswith("s3://") else {}
    return NWBZarrIO(task["url"], "r", storage_options={**options, "remote_client": "obstore"})


def _open_hdmf_zarr(task: dict[str, Any]) -> Any:
    from hdmf_zarr import NWBZarrIO

    return NWBZarrIO(task["url"], "r")


class _HDF5Reader:
    """NWBHDF5IO on an h5py.File over a remote file object; closes all three."""

    def __init__(self, remote_file: Any) -> None:
        import h5py
        from pynwb import NWBHDF5IO

        self.remote_file = remote_file
        self.h5 = h5py.File(remote_file, "r")
        self.io = NWBHDF5IO(file=self.h5)

    def read(self) -> Any:
        return self.io.read()

    def close(self) -> None:
        self.io.close()
        self.h5.close()
        self.remote_file.close()


def _open_hdf5_fsspec(task: dict[str, Any]) -> Any:
    """pynwb's documented fsspec streaming, without its CachingFileSystem: HTTPFileSystem.open + h5py."""
    import fsspec

    return _HDF5Reader(fsspec.filesystem("http").open(task["url"], "rb"))


def _open_hdf5_remfile(task: dict[str, Any]) -> Any:
    """pynwb's documented remfile streaming: remfile.File + h5py."""
    import remfile

    return _HDF5Reader(remfile.File(task["url"]))


def _open_nwbzarr_local(task: dict[str, Any]) -> Any:
    """nwbzarr on the served store's own folder: no network, the floor of every remote client."""
    from nwbzarr import NWBZarrIO

    return NWBZarrIO(task["url"], "r")


def _open_hdf5_local(task: dict[str, Any]) -> Any:
    """NWBHDF5IO on the served HDF5 file's own path: no network."""
    from pynwb import NWBHDF5IO

    return NWBHDF5IO(task["url"], "r")


READERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "nwbzarr": _open_nwbzarr,
    "nwbzarr-obstore": _open_nwbzarr_obstore,
    "hdmf-zarr-0.14": _open_hdmf_zarr,
    "hdf5-fsspec": _open_hdf5_fsspec,
    "hdf5-remfile": _open_hdf5_remfile,
    "nwbzarr-local": _open_nwbzarr_local,
    "hdf5-local": _open_hdf5_local,
}


PRELOAD = {  # what each client imports, loaded before anything is timed
    "nwbzarr": ["fsspec.implementations.http", "s3fs", "zarr.storage", "nwbzarr", "nwbzarr.storage"],
    "nwbzarr-obstore": ["zarr.storage", "nwbzarr", "nwbzarr.storage", "obstore.store"],
    "hdmf-zarr-0.14": ["fsspec.implementations.http", "hdmf_zarr"],
    "hdf5-fsspec": ["fsspec.implementations.http"],
    "hdf5-remfile": ["remfile"],
    "nwbzarr-local": ["zarr.storage", "nwbzarr", "nwbzarr.storage", "nwbzarr.format.v3", "nwbzarr.format.legacy"],
    "hdf5-local": ["hdmf.backends.hdf5"],
}


def _preload(client: str) -> None:
    """Import what the client uses, untimed (a timed operation never pays for an import)."""
    import importlib

    for module in ["numpy", "h5py", "pynwb", *PRELOAD[client]]:
        importlib.import_module(module)


# --- measurements -----------------------------------------------------------------------------------


def _counted(task: dict[str, Any], fn: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
    """Time ``fn()`` and take the server's counters of exactly that call."""
    reset_counters(task["stats_url"])
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, **read_counters(task["stats_url"])}, out


def _series(nwbfile: Any, params: wl.W2Params) -> Any:
    data = nwbfile.acquisition[wl.probe_series(params)].data[:]
    assert len(data) == params.series_len, len(data)
    return data


def _spikes(nwbfile: Any) -> int:
    column = nwbfile.units["spike_times"]
    return sum(len(column[i]) for i in range(min(SPIKE_UNITS, len(nwbfile.units))))


def _slice(nwbfile: Any, params: wl.W1Params) -> Any:
    data = nwbfile.acquisition["es"].data[: params.slice_rows]
    assert data.shape == (params.slice_rows, params.cols), data.shape
    return data


def run_reads(task: dict[str, Any]) -> dict[str, Any]:
    """Open + read() (timed first, in this fresh process), then the workload's reads, each counted."""
    params = wl.params_from_dict(task["workload"], task["params"])
    holder: list[Any] = []

    def open_and_read() -> Any:
        holder.append(READERS[task["client"]](task))
        return holder[0].read()

    figures: dict[str, Any] = {}
    figures["read"], nwbfile = _counted(task, open_and_read)
    figures["read"]["objects"] = len(nwbfile.objects)
    if task["workload"] == "W2":
        figures["series"], _ = _counted(task, lambda: _series(nwbfile, params))
        figures["spikes"], total = _counted(task, lambda: _spikes(nwbfile))
        figures["spikes"]["spikes"] = total
    else:
        figures["slice"], out = _counted(task, lambda: _slice(nwbfile, params))
        figures["slice"]["checksum"] = int(out.astype("int64").sum())
    holder[0].close()
    return figures


def run_write(task: dict[str, Any]) -> dict[str, Any]:
    """Build W2 (untimed), then time ``with NWBZarrIO(url, "w") as io: io.write(nwbfile)``."""
    nwbfile = wl.build_w2(wl.params_from_dict("W2", task["params"]))

    def write() -> None:
        with _open_nwbzarr(task, "w") as io:
            io.write(nwbfile)

    if task["url"].startswith("s3://"):
        figure, _ = _counted(task, write)
    else:
        t0 = time.perf_counter()
        write()
        figure = {"seconds": time.perf_counter() - t0}
    return {"write": figure}


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    import warnings

    warnings.simplefilter("ignore")  # zarr's and hdmf's format warnings are no part of a figure
    _preload(task["client"])
    return run_write(task) if task.get("write") else run_reads(task)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        result = run_task(json.loads(sys.argv[2]))
        sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
        sys.stdout.flush()
    else:
        sys.exit("usage: python -m benchmarks.remote_tasks --child '<task json>' (use python -m benchmarks)")
