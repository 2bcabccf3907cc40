"""Shared data location and small HDF5 files with the edge cases the structure tools must survive."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DATA = SHARED / "data"


def shared_file(*parts: str) -> Path:
    """A file under the shared data folder, skipping the test when the folder is absent."""
    path = DATA.joinpath(*parts)
    if not DATA.is_dir():
        pytest.skip(f"shared data folder {DATA} is absent")
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data")
    return path


@pytest.fixture
def edge_file(tmp_path: Path) -> Path:
    """A dangling external link, an empty compound dataset with a reference field and a reference cycle."""
    path = tmp_path / "edge.h5"
    with h5py.File(path, "w") as f:
        a, b = f.create_group("a"), f.create_group("b")
        a.attrs["neurodata_type"] = "Thing"
        b.attrs["neurodata_type"] = "Thing"
        a.attrs["peer"] = b.ref
        b.attrs["peer"] = a.ref
        a.attrs["me"] = a.ref
        f["a/ext"] = h5py.ExternalLink("does_not_exist.nwb", "/acquisition/x")
        f["b/soft"] = h5py.SoftLink("/a")
        f["b/dangling_soft"] = h5py.SoftLink("/nowhere")
        dt = np.dtype([("idx_start", "<i4"), ("count", "<i4"), ("timeseries", h5py.ref_dtype)])
        f.create_dataset("empty_compound", shape=(0,), dtype=dt, maxshape=(None,), chunks=(4,))
        refs = f.create_dataset("refs", shape=(3,), dtype=h5py.ref_dtype)
        refs[0], refs[1] = a.ref, b.ref  # refs[2] stays a null reference
        f.create_dataset("values", data=np.arange(100.0), chunks=(10,), compression="gzip")
    return path
