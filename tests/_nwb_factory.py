"""A broad NWB file covering every neurodata area, built by hand and with pynwb's mocks."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hdmf.common import AlignedDynamicTable, DynamicTable, VectorData
from pynwb import NWBFile, TimeSeries
from pynwb.behavior import Position, SpatialSeries
from pynwb.ecephys import ElectricalSeries
from pynwb.image import ImageSeries
from pynwb.testing.mock.icephys import (
    mock_IntracellularElectrode,
    mock_VoltageClampSeries,
    mock_VoltageClampStimulusSeries,
)
from pynwb.testing.mock.ophys import mock_ImagingPlane


def broad_nwbfile() -> NWBFile:
    """Ecephys, icephys tables, ophys ragged masks, behavior, external image files, tables of all kinds."""
    rng = np.random.default_rng(42)
    nwb = NWBFile(
        session_description="broad file", identifier="broad-1",
        session_start_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        experimenter=["Doe, Jane"], keywords=["a", "b"], related_publications=["doi:1"],
    )
    _ecephys(nwb, rng)
    _icephys(nwb)
    _ophys(nwb, rng)
    _behavior(nwb, rng)
    _images(nwb)
    _tables(nwb, rng)
    return nwb


def _ecephys(nwb: NWBFile, rng) -> None:
    device = nwb.create_device("probe", description="probe")
    group = nwb.create_electrode_group("shank0", description="s0", location="CA1", device=device,
                                       position=(1.0, 2.0, 3.0))
    nwb.add_electrode_column("quality", "quality score")
    for i in range(4):
        nwb.add_electrode(group=group, location="CA1", quality=float(i))
    region = nwb.create_electrode_table_region([0, 2], "two electrodes")
    nwb.add_acquisition(ElectricalSeries(name="es", data=rng.integers(-100, 100, (50, 2), dtype=np.int16),
                                         electrodes=region, rate=1000.0, starting_time=0.5))
    nwb.add_unit_column("quality", "q")
    nwb.add_unit(spike_times=[0.1, 0.2, 0.3], electrodes=[0, 1], quality=0.9)
    nwb.add_unit(spike_times=[], electrodes=[2], quality=0.1)
    nwb.add_unit(spike_times=[0.5], electrodes=[3], quality=0.5)


def _icephys(nwb: NWBFile) -> None:
    electrode = mock_IntracellularElectrode(nwbfile=nwb)
    stim = mock_VoltageClampStimulusSeries(name="stim", electrode=electrode, nwbfile=nwb)
    resp = mock_VoltageClampSeries(name="resp", electrode=electrode, nwbfile=nwb)
    rec = nwb.add_intracellular_recording(electrode=electrode, stimulus=stim, response=resp, id=10)
    sim = nwb.add_icephys_simultaneous_recording(recordings=[rec])
    seq = nwb.add_icephys_sequential_recording(simultaneous_recordings=[sim], stimulus_type="square")
    nwb.add_icephys_repetition(sequential_recordings=[seq])


def _ophys(nwb: NWBFile, rng) -> None:
    from pynwb.ophys import ImageSegmentation

    plane = mock_ImagingPlane(nwbfile=nwb)
    module = nwb.create_processing_module("ophys", "optical physiology")
    seg = ImageSegmentation()
    module.add(seg)
    ps = seg.create_plane_segmentation("cells", plane, name="planes")
    ps.add_roi(pixel_mask=[(1, 2, 1.0), (3, 4, 0.5)])
    ps.add_roi(pixel_mask=[(5, 6, 1.0)])
    ps.add_roi(pixel_mask=[(7, 8, 0.25), (9, 9, 0.75), (1, 1, 1.0)])


def _behavior(nwb: NWBFile, rng) -> None:
    module = nwb.create_processing_module("behavior", "behavior")
    position = Position(spatial_series=SpatialSeries(name="xy", data=rng.random((20, 2)), reference_frame="top",
                                                      timestamps=np.arange(20) / 10.0))
    module.add(position)
    ts = TimeSeries(name="speed", data=rng.random(20), unit="m/s",
                    timestamps=position.spatial_series["xy"])
    module.add(ts)


def _images(nwb: NWBFile) -> None:
    nwb.add_acquisition(ImageSeries(name="movie", external_file=["movie1.avi", "movie2.avi"],
                                    starting_frame=[0, 10], format="external", rate=30.0, unit="n/a",
                                    num_samples=20))


def _tables(nwb: NWBFile, rng) -> None:
    nwb.add_trial_column("label", "text label")
    nwb.add_trial_column("spikes", "ragged spikes", index=True)
    nwb.add_trial_column("nested", "doubly ragged", index=2)
    nwb.add_trial_column("ts_region", "rows of units", table=nwb.units)
    nwb.add_trial(start_time=0.0, stop_time=1.0, label="a", spikes=[0.1, 0.2], nested=[[1.0], [2.0, 3.0]],
                  ts_region=0)
    nwb.add_trial(start_time=1.0, stop_time=2.0, label="ü é 🎉", spikes=[], nested=[[4.0]], ts_region=2)
    nwb.add_epoch(start_time=0.0, stop_time=1.0, tags=["x", "y"], timeseries=[nwb.acquisition["es"]])
    nwb.add_epoch(start_time=1.0, stop_time=2.0, tags=[], timeseries=[nwb.acquisition["movie"]])
    module = nwb.create_processing_module("common", "hdmf-common types")
    table = DynamicTable(name="plain", description="a table with a bool column")
    table.add_column("flag", "a bool")
    table.add_row(flag=True)
    table.add_row(flag=False)
    module.add(table)
    module.add(_aligned())
    enum_table = DynamicTable(name="with_enum", description="an enum column")
    enum_table.add_column(name="fruit", description="fruit", enum=["apple", "pear"])
    for fruit in ("apple", "pear", "pear"):
        enum_table.add_row(fruit=fruit)
    module.add(enum_table)


def _aligned() -> AlignedDynamicTable:
    sub = DynamicTable(name="sub", description="category")
    sub.add_column("value", "a value")
    for v in (1.0, 2.0):
        sub.add_row(value=v)
    main = VectorData(name="main", description="main col", data=[10, 20])
    return AlignedDynamicTable(name="aligned", description="aligned table", category_tables=[sub],
                               columns=[main], id=[0, 1])
