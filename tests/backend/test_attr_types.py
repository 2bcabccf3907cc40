"""Unsigned-integer attributes read back with their spec's numpy type, as NWBHDF5IO reads them (JSON attributes
keep only the number), so that pynwb's validator accepts the file."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pynwb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pynwb import NWBHDF5IO, NWBFile
from pynwb.ophys import OnePhotonSeries
from pynwb.testing.mock.icephys import mock_CurrentClampSeries
from pynwb.testing.mock.ophys import mock_ImagingPlane

from nwbzarr import NWBZarrIO


def _nwbfile(sweep_number: int, binning: int) -> NWBFile:
    nwb = NWBFile(session_description="attrs", identifier="attrs-1",
                  session_start_time=datetime(2024, 1, 2, tzinfo=UTC))
    mock_CurrentClampSeries(name="ccs", nwbfile=nwb, sweep_number=np.uint32(sweep_number))
    plane = mock_ImagingPlane(nwbfile=nwb)
    nwb.add_acquisition(OnePhotonSeries(name="ops", data=np.zeros((2, 3, 3)), imaging_plane=plane, rate=1.0,
                                        unit="n.a.", binning=np.uint8(binning)))
    return nwb


def _attrs(io) -> tuple:
    root = io.read_builder()
    return root["acquisition/ccs"].attributes["sweep_number"], root["acquisition/ops"].attributes["binning"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sweep_number=st.integers(0, 2**32 - 1), binning=st.integers(0, 255))
def test_unsigned_attributes_read_as_nwbhdf5io_reads_them(tmp_path_factory, sweep_number, binning):
    tmp = tmp_path_factory.mktemp("attrs")
    with NWBHDF5IO(tmp / "f.nwb", "w") as io:
        io.write(_nwbfile(sweep_number, binning))
    with NWBZarrIO(tmp / "f.zarr", "w") as io:
        io.write(_nwbfile(sweep_number, binning))
    with NWBHDF5IO(tmp / "f.nwb", "r") as h_io, NWBZarrIO(tmp / "f.zarr", "r") as z_io:
        expected, got = _attrs(h_io), _attrs(z_io)
        assert [type(v) for v in got] == [type(v) for v in expected] == [np.uint32, np.uint8]
        assert got == expected == (sweep_number, binning)
        assert pynwb.validate(io=h_io) == []
        assert z_io.read().acquisition["ccs"].sweep_number == sweep_number
