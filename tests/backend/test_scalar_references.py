"""A 0-d dataset holding one object reference (written with ``write_builder``) reads back as a
``ReferenceBuilder`` to the target's own builder (hdmf-zarr 0.14 does the same: see test_interop_hdmf_zarr).
The legacy layout stores it as a one-element reference array, as hdmf-zarr 0.13 writes and reads it."""

from __future__ import annotations

import json
import shutil

import pytest
from hdmf.build import ReferenceBuilder

from _helpers import SCALAR_REF_TARGETS as TARGETS
from _helpers import scalar_reference_builders
from nwbzarr import ZarrIO


def test_scalar_references_read_as_reference_builders(tmp_path):
    with ZarrIO(tmp_path / "s.zarr", "w") as io:
        io.write_builder(scalar_reference_builders(), cache_spec=False)
    with ZarrIO(tmp_path / "s.zarr", "r") as io:
        root = io.read_builder()
        for name, target in TARGETS.items():
            ds = root[name]
            assert isinstance(ds.data, ReferenceBuilder), name
            assert ds.data.builder is root[target]
            assert ds.dtype == "object"
        assert root["z_group/sub"].attributes["note"] == "target"


def test_legacy_layout_keeps_a_one_element_reference_array(tmp_path):
    with ZarrIO(tmp_path / "s.zarr", "w", zarr_format=2) as io:
        io.write_builder(scalar_reference_builders(), cache_spec=False)
    with ZarrIO(tmp_path / "s.zarr", "r") as io:
        root = io.read_builder()
        for name, target in TARGETS.items():
            data = root[name].data
            assert data.shape == (1,) and root[name].dtype == "object"
            assert data[0] is root[target]


@pytest.mark.parametrize("fmt", [3, 2])
def test_scalar_reference_to_a_missing_target_names_it(tmp_path, fmt):
    with ZarrIO(tmp_path / "s.zarr", "w", zarr_format=fmt) as io:
        io.write_builder(scalar_reference_builders(), cache_spec=False)
    shutil.rmtree(tmp_path / "s.zarr" / "z_group" / "sub")
    for meta in (tmp_path / "s.zarr").glob(".zmetadata"):
        meta.unlink()
    root_doc = tmp_path / "s.zarr" / "zarr.json"
    if root_doc.exists():
        doc = json.loads(root_doc.read_text())
        doc.pop("consolidated_metadata", None)
        root_doc.write_text(json.dumps(doc))
    with ZarrIO(tmp_path / "s.zarr", "r") as io:
        with pytest.raises(Exception, match="z_group/sub"):
            root = io.read_builder()
            root["a_ref_to_group"].data[0]  # the legacy layout resolves on access
