"""Build the small NWB sample bundled with nwbzarr (src/nwbzarr/data/sample.nwb), deterministically."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import numpy as np
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.ecephys import ElectricalSeries


def build() -> NWBFile:
    rng = np.random.default_rng(0)
    nwb = NWBFile(session_description="nwbzarr bundled sample", identifier="nwbzarr-sample",
                  session_start_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
                  file_create_date=datetime(2024, 1, 2, 4, 0, 0, tzinfo=UTC),
                  experimenter=["Doe, Jane"], keywords=["zarr", "sample"])
    device = nwb.create_device("probe", description="a 4-channel probe")
    group = nwb.create_electrode_group("shank0", description="shank 0", location="CA1", device=device)
    for _ in range(4):
        nwb.add_electrode(group=group, location="CA1")
    region = nwb.create_electrode_table_region([0, 1, 2, 3], "all electrodes")
    nwb.add_acquisition(ElectricalSeries(name="ephys", data=rng.integers(-500, 500, (3000, 4), dtype=np.int16),
                                         electrodes=region, rate=30000.0, starting_time=0.0))
    ts = TimeSeries(name="position", data=rng.random(100), unit="m", timestamps=np.arange(100) / 10.0)
    nwb.add_acquisition(ts)
    nwb.add_acquisition(TimeSeries(name="speed", data=rng.random(100), unit="m/s", timestamps=ts))
    nwb.add_trial_column("label", "trial label")
    for i in range(5):
        nwb.add_trial(start_time=float(i), stop_time=i + 0.5, label=f"trial {i}")
    for i in range(3):
        nwb.add_unit(spike_times=np.sort(rng.random(5 + i)) * 10, electrodes=[i])
    return nwb


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "src/nwbzarr/data/sample.nwb"
    with NWBHDF5IO(out, "w") as io:
        io.write(build())
    print(out)
