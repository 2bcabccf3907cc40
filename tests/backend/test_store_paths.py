"""``path`` may name a store by URL or by file: the right store opens and the file round-trips."""

from __future__ import annotations

import numpy as np
import pytest
from pynwb import TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from nwbzarr import NWBZarrIO


def _nwb():
    nwb = mock_NWBFile()
    nwb.add_acquisition(TimeSeries(name="ts", data=np.arange(8.0), unit="m", rate=1.0))
    return nwb


@pytest.mark.parametrize("spec, store_type", [
    ("sqlite:///{tmp}/a.nwb.sqldb", "SQLiteStore"),
    ("{tmp}/b.nwb.sqldb", "SQLiteStore"),
    ("{tmp}/c.nwb.zip", "ZipStore"),
    ("lmdb:///{tmp}/d.nwb.lmdb", "LMDBStore"),
    ("{tmp}/e.nwb.zarr", "LocalStore"),
])
def test_store_chosen_by_url_or_file(tmp_path, spec, store_type):
    path = spec.format(tmp=tmp_path)
    with NWBZarrIO(path, mode="w") as io:
        io.write(_nwb())
    with NWBZarrIO(path, mode="r") as io:
        assert type(io.store).__name__ == store_type
        assert io.read().acquisition["ts"].data[:].tolist() == list(np.arange(8.0))
