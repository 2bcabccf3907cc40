"""HDF5 region references -> nwbzarr's region JSON (``format.reference.hdf5_region``): the JSON region
selects the same elements as HDF5 does for the reference."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nwbzarr.format.reference import hdf5_region, region_to_selection

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _region_of(dset: h5py.Dataset, selection) -> tuple[object, np.ndarray]:
    """(JSON region, values HDF5 selects) for a region reference to ``dset[selection]``."""
    ref = dset.regionref[selection]
    space = h5py.h5r.get_region(ref, dset.id)
    return hdf5_region(space, dset.shape), dset[ref]


@SETTINGS
@given(start=st.integers(0, 19), length=st.integers(1, 20), cols=st.integers(1, 4))
def test_one_hyperslab_is_a_list_of_slices(tmp_path: Path, start, length, cols):
    stop = min(20, start + length)
    with h5py.File(tmp_path / f"h{start}_{length}_{cols}.h5", "w") as fh:
        data = np.arange(20 * cols).reshape(20, cols)
        dset = fh.create_dataset("d", data=data)
        region, selected = _region_of(dset, np.s_[start:stop, 0:cols])
        assert region == [[start, stop, 1], [0, cols, 1]]
        np.testing.assert_array_equal(data[region_to_selection(region)].reshape(-1), selected.reshape(-1))


@SETTINGS
@given(rows=st.lists(st.integers(0, 29), min_size=1, max_size=8, unique=True))
def test_a_list_of_rows_selects_the_same_rows(tmp_path: Path, rows):
    """h5py makes a list of rows one hyperslab block per run of rows: one block reads as slices, several
    as indices; either way the same rows."""
    with h5py.File(tmp_path / f"p{len(rows)}_{rows[0]}.h5", "w") as fh:
        data = np.arange(30) * 10
        dset = fh.create_dataset("d", data=data)
        region, selected = _region_of(dset, sorted(rows))
        contiguous = sorted(rows) == list(range(min(rows), max(rows) + 1))
        assert isinstance(region, list) if contiguous else region == {"indices": sorted(rows)}
        np.testing.assert_array_equal(data[region_to_selection(region)], selected)


@SETTINGS
@given(points=st.lists(st.integers(0, 29), min_size=1, max_size=8, unique=True))
def test_point_selections_are_first_axis_indices_in_their_order(tmp_path: Path, points):
    with h5py.File(tmp_path / f"e{len(points)}_{points[0]}.h5", "w") as fh:
        dset = fh.create_dataset("d", data=np.arange(30))
        space = dset.id.get_space()
        space.select_elements(np.array(points).reshape(-1, 1))
        assert hdf5_region(space, dset.shape) == {"indices": points}


def test_several_blocks_are_sorted_indices(tmp_path: Path):
    with h5py.File(tmp_path / "b.h5", "w") as fh:
        dset = fh.create_dataset("d", data=np.arange(30))
        space = dset.id.get_space()
        space.select_hyperslab((12,), (3,))
        space.select_hyperslab((2,), (2,), op=h5py.h5s.SELECT_OR)
        assert hdf5_region(space, dset.shape) == {"indices": [2, 3, 12, 13, 14]}


def test_all_and_none_are_left_to_the_caller(tmp_path: Path):
    with h5py.File(tmp_path / "a.h5", "w") as fh:
        dset = fh.create_dataset("d", data=np.arange(5))
        space = dset.id.get_space()
        space.select_all()
        assert hdf5_region(space) is None
        space.select_none()
        assert hdf5_region(space) is None
