"""Write a broad NWB file, read it back, compare containers with values."""

from __future__ import annotations

import numpy as np
import pytest

from _helpers import assert_containers_equal
from _nwb_factory import broad_nwbfile
from nwbzarr import NWBZarrIO, ZarrDataset


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("broad") / "broad.nwb.zarr"
    nwb = broad_nwbfile()
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwb)
    return path, nwb


def test_broad_file_round_trips(written):
    path, original = written
    with NWBZarrIO(path, mode="r") as io:
        assert_containers_equal(original, io.read())


def test_read_is_lazy_and_typed(written):
    path, _ = written
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        data = nwb.acquisition["es"].data
        assert isinstance(data, ZarrDataset)
        assert data.dtype == np.int16 and data.shape == (50, 2)
        assert nwb.acquisition["es"].starting_time == 0.5


def test_tables_to_dataframe(written):
    path, _ = written
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        trials = nwb.trials.to_dataframe()
        assert list(trials["label"]) == ["a", "ü é 🎉"]
        assert list(trials["spikes"].iloc[0]) == [0.1, 0.2]
        assert [list(x) for x in trials["nested"].iloc[0]] == [[1.0], [2.0, 3.0]]
        units = nwb.units.to_dataframe()
        assert list(units["spike_times"].iloc[1]) == []
        rows = nwb.epochs["timeseries"].target.data[:]
        assert rows[0][2] is nwb.acquisition["es"] and rows[1][2] is nwb.acquisition["movie"]
        assert (rows[1][0], rows[1][1]) == (30, 30)
        assert nwb.electrodes["group"][0] is nwb.electrode_groups["shank0"]


def test_icephys_compound_reference_columns(written):
    path, _ = written
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        rec = nwb.intracellular_recordings
        df = rec.to_dataframe()
        assert len(df) == 1
        row = rec["responses"]["response"][0]
        assert row.timeseries is nwb.acquisition["resp"]


def test_scalar_compound_and_soft_link(written):
    path, _ = written
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        pos = nwb.electrode_groups["shank0"].position
        assert tuple(pos[()] if hasattr(pos, "shape") and pos.shape == () else pos) == (1.0, 2.0, 3.0)
        speed = nwb.processing["behavior"]["speed"]
        xy = nwb.processing["behavior"]["Position"]["xy"]
        assert speed.timestamps is xy.timestamps or speed.timestamp_link is not None


def test_specs_are_cached_and_loaded(written):
    path, _ = written
    versions = NWBZarrIO.get_namespaces(path)
    assert {"core", "hdmf-common", "hdmf-experimental"} <= set(versions)
