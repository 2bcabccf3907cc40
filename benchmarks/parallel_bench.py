"""Parallel write benchmark W1: a 512 MiB int16 ElectricalSeries (699050 x 384, chunks 65536 x 64, default
codec) written from a ``GenericDataChunkIterator`` serially, with 2 processes, and on a 2-worker Dask
LocalCluster, into a local directory store. Ratios are from one run (median of ``--repeat`` writes each).

    python -m benchmarks.parallel_bench [--quick] [--repeat N]

The iterator synthesises its data (a 48 MiB random-walk template, shifted per 65536-row block), so it
pickles small and costs the same in every mode. The Dask cluster is started before timing; the process
pool is started inside every timed write.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from hdmf.data_utils import GenericDataChunkIterator

W1_SHAPE = (699050, 384)
W1_CHUNKS = (65536, 64)


class SyntheticRecording(GenericDataChunkIterator):
    """int16 data: a random-walk template of ``chunk_rows`` rows, plus the block number per block."""

    def __init__(self, shape: tuple[int, int], chunk_rows: int, seed: int = 0, **kwargs: Any) -> None:
        self.shape, self.chunk_rows, self.seed = tuple(shape), chunk_rows, seed
        rng = np.random.default_rng(seed)
        steps = rng.integers(-40, 41, size=(chunk_rows, shape[1]), dtype=np.int16)
        self.template = np.cumsum(steps, axis=0, dtype=np.int16)
        self._kwargs = kwargs
        super().__init__(**kwargs)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        start, stop = selection[0].start, selection[0].stop
        columns = range(self.shape[1])[selection[1]]
        out = np.empty((stop - start, len(columns)), dtype=np.int16)
        row = start
        while row < stop:  # one slice per template-sized block: copies, no fancy indexing
            block, offset = divmod(row, self.chunk_rows)
            n = min(stop - row, self.chunk_rows - offset)
            np.add(self.template[offset:offset + n, selection[1]], np.int16(block), out=out[row - start:row - start + n])
            row += n
        return out

    def _get_maxshape(self) -> tuple[int, ...]:
        return self.shape

    def _get_dtype(self) -> np.dtype:
        return np.dtype("int16")

    def _to_dict(self) -> dict:
        return {"shape": self.shape, "chunk_rows": self.chunk_rows, "seed": self.seed, **self._kwargs}

    @staticmethod
    def _from_dict(state: dict) -> SyntheticRecording:
        return SyntheticRecording(**state)


def nwbfile(shape: tuple[int, int], chunks: tuple[int, int]) -> Any:
    """An NWBFile with one ElectricalSeries over ``shape[1]`` electrodes, data from the iterator."""
    from pynwb import NWBFile
    from pynwb.ecephys import ElectricalSeries

    nwb = NWBFile(session_description="W1", identifier="w1", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    device = nwb.create_device(name="probe")
    group = nwb.create_electrode_group(name="shank", description="shank", location="CA1", device=device)
    for _ in range(shape[1]):
        nwb.add_electrode(group=group, location="CA1")
    region = nwb.create_electrode_table_region(region=list(range(shape[1])), description="all")
    data = SyntheticRecording(shape, chunks[0], chunk_shape=chunks)
    nwb.add_acquisition(ElectricalSeries(name="ElectricalSeries", data=data, electrodes=region, rate=30000.0))
    return nwb


def timed_write(target: Path, shape: tuple[int, int], chunks: tuple[int, int], **write_kwargs: Any) -> float:
    from nwbzarr import NWBZarrIO

    nwb = nwbfile(shape, chunks)
    shutil.rmtree(target, ignore_errors=True)
    start = time.perf_counter()
    with NWBZarrIO(str(target), mode="w") as io:
        io.write(nwb, **write_kwargs)
    return time.perf_counter() - start


def stored_chunks(target: Path) -> dict[str, bytes]:
    folder = target / "acquisition" / "ElectricalSeries" / "data"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 64 MiB array, one write per mode")
    parser.add_argument("--repeat", type=int, default=3, help="writes per mode (median reported)")
    args = parser.parse_args()
    shape, chunks = ((87382, 384), (16384, 64)) if args.quick else (W1_SHAPE, W1_CHUNKS)
    repeat = 1 if args.quick else args.repeat
    nbytes = shape[0] * shape[1] * 2
    from distributed import Client, LocalCluster

    root = Path(tempfile.mkdtemp(prefix="nwbzarr-parallel-bench-"))
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            modes = {"serial": {}, "2 processes": {"number_of_jobs": 2},
                     "dask, 2 workers": {"scheduler": client}}
            times: dict[str, list[float]] = {m: [] for m in modes}
            outputs: dict[str, dict[str, bytes]] = {}
            for _ in range(repeat):
                for mode, kwargs in modes.items():
                    target = root / (mode.replace(" ", "_").replace(",", "") + ".zarr")
                    times[mode].append(timed_write(target, shape, chunks, **kwargs))
                    outputs[mode] = stored_chunks(target)
        report(shape, chunks, nbytes, times, outputs)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(shape: tuple, chunks: tuple, nbytes: int, times: dict[str, list[float]],
           outputs: dict[str, dict[str, bytes]]) -> None:
    serial = statistics.median(times["serial"])
    print(f"W1: int16 {shape[0]} x {shape[1]} ({nbytes / 2**20:.0f} MiB), chunks {chunks}, default codec, "
          f"median of {len(times['serial'])}")
    for mode, values in times.items():
        median = statistics.median(values)
        print(f"  {mode:<16} {median:7.3f} s  {nbytes / median / 1e9:6.2f} GB/s  speed-up x{serial / median:4.2f}")
    identical = all(out == outputs["serial"] for out in outputs.values())
    print(f"  stored bytes identical across modes: {identical}")


if __name__ == "__main__":
    main()
