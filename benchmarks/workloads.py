"""Deterministic benchmark workloads W1 and W2 (issue 8), with every size a parameter.

W1: one ElectricalSeries of int16 samples (full size: 699050 x 384, 512 MiB, chunks 65536 x 64),
    noise around a slow per-channel drift so it compresses roughly like extracellular recordings.
W2: many small objects: ``n_series`` short TimeSeries in ``acquisition``, a ``n_units`` units table
    with ragged ``spike_times`` (about ``mean_spikes`` per unit) and an ``n_electrodes`` electrodes table.

The same seed gives the same NWBFile content in every process, so writers and readers in separate
subprocesses agree on what was written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

SESSION_START = datetime(2024, 1, 1, tzinfo=UTC)
SAMPLING_RATE = 30000.0


@dataclass(frozen=True)
class W1Params:
    """Size of W1: ``rows`` x ``cols`` int16 samples stored in ``chunks``."""

    rows: int = 699050
    cols: int = 384
    chunk_rows: int = 65536
    chunk_cols: int = 64
    slice_rows: int = 30000  # one second at 30 kHz
    seed: int = 0

    @property
    def chunks(self) -> tuple[int, int]:
        return (min(self.chunk_rows, self.rows), min(self.chunk_cols, self.cols))

    @property
    def nbytes(self) -> int:
        return self.rows * self.cols * 2


@dataclass(frozen=True)
class W2Params:
    """Size of W2: TimeSeries count and length, units and their mean spike count, electrodes."""

    n_series: int = 2000
    series_len: int = 1000
    n_units: int = 10000
    mean_spikes: int = 200
    n_electrodes: int = 384
    seed: int = 0


FULL = {"W1": W1Params(), "W2": W2Params()}
QUICK = {
    "W1": W1Params(rows=65536 + 32768, cols=384),
    "W2": W2Params(n_series=200, series_len=1000, n_units=1000, mean_spikes=200),
}
TINY = {
    "W1": W1Params(rows=4096, cols=16, chunk_rows=1024, chunk_cols=8, slice_rows=1000),
    "W2": W2Params(n_series=5, series_len=50, n_units=20, mean_spikes=5, n_electrodes=8),
}
PRESETS = {"full": FULL, "quick": QUICK, "tiny": TINY}


def params_from_dict(workload: str, values: dict[str, Any]) -> W1Params | W2Params:
    """Rebuild a parameter object from its ``asdict`` form (as passed to child processes)."""
    cls = W1Params if workload == "W1" else W2Params
    return cls(**values)


def params_to_dict(params: W1Params | W2Params) -> dict[str, Any]:
    return asdict(params)


# --- W1 ---------------------------------------------------------------------------------------


def make_w1_data(p: W1Params) -> np.ndarray:
    """int16 noise (sd 40) plus a slow sine drift (amplitude 200) that differs per channel."""
    rng = np.random.default_rng(p.seed)
    out = np.empty((p.rows, p.cols), dtype=np.int16)
    block = 65536
    phase = rng.uniform(0, 2 * np.pi, size=p.cols).astype(np.float32)
    for start in range(0, p.rows, block):
        stop = min(start + block, p.rows)
        t = np.arange(start, stop, dtype=np.float32)[:, None] / 3000.0
        drift = np.sin(t + phase[None, :]) * 200.0
        noise = rng.normal(0.0, 40.0, size=(stop - start, p.cols))
        out[start:stop] = (noise + drift).astype(np.int16)
    return out


def w1_data_file(workdir: Path, p: W1Params) -> Path:
    """Where W1's samples are cached as ``.npy`` (generated once, loaded by every writer)."""
    return Path(workdir) / f"w1_{p.rows}x{p.cols}_s{p.seed}.npy"


def load_or_make_w1(workdir: Path, p: W1Params) -> np.ndarray:
    """Load W1's cached samples, generating and caching them on first use."""
    path = w1_data_file(workdir, p)
    if not path.exists():
        data = make_w1_data(p)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, data)
        tmp.rename(path)
        return data
    return np.load(path)


def wrap_w1(data: np.ndarray, p: W1Params, wrap: str) -> Any:
    """Wrap W1's samples for a backend variant: hdf5 / hdf5-gzip / zarr-default / zarr-none."""
    if wrap == "hdf5":
        from hdmf.backends.hdf5 import H5DataIO

        return H5DataIO(data, chunks=p.chunks)
    if wrap == "hdf5-gzip":
        from hdmf.backends.hdf5 import H5DataIO

        return H5DataIO(data, chunks=p.chunks, compression="gzip", compression_opts=4)
    from nwbzarr import ZarrDataIO

    if wrap == "zarr-default":
        # ZarrDataIO's default (compressors=None) is nwbzarr's default codec, blosc-lz4 + bit shuffle.
        return ZarrDataIO(data, chunks=p.chunks)
    if wrap == "zarr-none":
        return ZarrDataIO(data, chunks=p.chunks, compressors=False)
    raise ValueError(f"unknown W1 wrapping {wrap!r}")


def _new_nwbfile(identifier: str) -> Any:
    from pynwb import NWBFile

    return NWBFile(
        session_description=f"nwbzarr benchmark {identifier}",
        identifier=identifier,
        session_start_time=SESSION_START,
        file_create_date=SESSION_START,
    )


def _add_electrodes(nwbfile: Any, n: int) -> None:
    """One device, one electrode group, ``n`` electrodes (row i at x=i, y=2i, z=0)."""
    device = nwbfile.create_device(name="probe", description="benchmark probe")
    group = nwbfile.create_electrode_group(
        name="shank0", description="benchmark shank", location="brain", device=device
    )
    for i in range(n):
        nwbfile.add_electrode(x=float(i), y=float(2 * i), z=0.0, location="brain", group=group)


def build_w1(data: Any, p: W1Params) -> Any:
    """An NWBFile holding W1's ElectricalSeries ``es`` (``data`` already wrapped as wanted)."""
    from pynwb.ecephys import ElectricalSeries

    nwbfile = _new_nwbfile("W1")
    _add_electrodes(nwbfile, p.cols)
    region = nwbfile.create_electrode_table_region(list(range(p.cols)), "all electrodes")
    es = ElectricalSeries(
        name="es", data=data, electrodes=region, rate=SAMPLING_RATE, starting_time=0.0, conversion=0.195e-6
    )
    nwbfile.add_acquisition(es)
    return nwbfile


# --- W2 ---------------------------------------------------------------------------------------


def series_name(i: int) -> str:
    return f"ts_{i:05d}"


def probe_series(p: W2Params) -> str:
    """The TimeSeries read whole by the 'one TimeSeries' measurement (the middle one)."""
    return series_name(p.n_series // 2)


def make_spike_times(p: W2Params) -> tuple[np.ndarray, np.ndarray]:
    """(flat spike times, end offsets per unit): counts uniform in [0, 2*mean_spikes]."""
    rng = np.random.default_rng(p.seed + 1)
    counts = rng.integers(0, 2 * p.mean_spikes + 1, size=p.n_units)
    ends = np.cumsum(counts).astype(np.uint64)
    times = rng.uniform(0.0, 3600.0, size=int(ends[-1]) if p.n_units else 0)
    for start, stop in zip(np.concatenate(([0], ends[:-1])).astype(np.int64), ends.astype(np.int64)):
        times[start:stop].sort()
    return times, ends


def _add_series(nwbfile: Any, p: W2Params) -> None:
    from pynwb import TimeSeries

    rng = np.random.default_rng(p.seed)
    for i in range(p.n_series):
        data = rng.normal(size=p.series_len).astype(np.float32)
        nwbfile.add_acquisition(
            TimeSeries(name=series_name(i), data=data, unit="V", rate=1000.0, starting_time=float(i),
                       description=f"series {i}")
        )


def _add_units(nwbfile: Any, p: W2Params) -> None:
    """The units table built column-wise (one VectorData + VectorIndex), not row by row."""
    from hdmf.common import ElementIdentifiers, VectorData, VectorIndex
    from pynwb.misc import Units

    times, ends = make_spike_times(p)
    spike_times = VectorData(name="spike_times", description="spike times (s)", data=times)
    index = VectorIndex(name="spike_times_index", data=ends, target=spike_times)
    ids = ElementIdentifiers(name="id", data=np.arange(p.n_units, dtype=np.int64))
    nwbfile.units = Units(name="units", id=ids, columns=[spike_times, index], description="benchmark units")


def build_w2(p: W2Params) -> Any:
    """An NWBFile with W2's TimeSeries, units table and electrodes table."""
    nwbfile = _new_nwbfile("W2")
    _add_electrodes(nwbfile, p.n_electrodes)
    _add_series(nwbfile, p)
    _add_units(nwbfile, p)
    return nwbfile
