"""An NWB extension: written with its namespace cached, read back without importing it."""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import numpy as np
import pynwb
import pytest
from pynwb import get_class, load_namespaces
from pynwb.spec import NWBAttributeSpec, NWBDatasetSpec, NWBGroupSpec, NWBNamespaceBuilder
from pynwb.testing.mock.file import mock_NWBFile

from nwbzarr import NWBZarrIO


@pytest.fixture(scope="module")
def extension(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ndx")
    ns = NWBNamespaceBuilder("test extension", "ndx-zarrtest", version="0.1.0", author="nwbzarr",
                             contact="dev@example.org")
    ns.include_type("NWBDataInterface", namespace="core")
    spec = NWBGroupSpec(
        neurodata_type_def="ZarrTestProbe", neurodata_type_inc="NWBDataInterface", doc="a test type",
        attributes=[NWBAttributeSpec("gain", "a gain", "float")],
        datasets=[NWBDatasetSpec("weights", "weights", dtype="float", shape=(None,))],
    )
    ns.add_spec("ndx-zarrtest.extensions.yaml", spec)
    ns.export("ndx-zarrtest.namespace.yaml", outdir=str(folder))
    path = folder / "ndx-zarrtest.namespace.yaml"
    # pynwb's global type map is process-wide: load the extension as users do, then put the map back so the
    # extension does not leak into later tests of this worker (pynwb.validate would validate against it)
    saved = copy.deepcopy(vars(pynwb)["__TYPE_MAP"])
    load_namespaces(str(path))
    yield path, get_class("ZarrTestProbe", "ndx-zarrtest")
    vars(pynwb)["__TYPE_MAP"] = saved


def test_extension_round_trips_and_is_cached(tmp_path, extension):
    ns_path, Probe = extension
    nwb = mock_NWBFile()
    module = nwb.create_processing_module("ext", "extension data")
    module.add(Probe(name="probe", gain=2.5, weights=np.array([1.0, 2.0, 3.0], dtype="float32")))
    path = tmp_path / "ext.nwb.zarr"
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwb)
    assert NWBZarrIO.get_namespaces(path)["ndx-zarrtest"] == "0.1.0"
    with NWBZarrIO(path, mode="r") as io:
        probe = io.read().processing["ext"]["probe"]
        assert probe.gain == 2.5 and probe.weights[:].tolist() == [1.0, 2.0, 3.0]

    # a fresh interpreter that never imported the extension reads it from the cached namespace
    code = textwrap.dedent(f"""
        from nwbzarr import NWBZarrIO
        with NWBZarrIO({str(path)!r}, "r") as io:
            probe = io.read().processing["ext"]["probe"]
            print(type(probe).__name__, probe.gain)
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-2:] == ["ZarrTestProbe", "2.5"]

    # load_namespaces=False with no extensions: the type is unknown, read falls back to a generic class
    code_no_ns = code.replace('"r")', '"r", load_namespaces=False)')
    run = subprocess.run([sys.executable, "-c", code_no_ns], capture_output=True, text=True, timeout=300)
    assert "ZarrTestProbe" not in run.stdout.split()[:1]

    # extensions= given explicitly loads the namespace from its YAML
    code_ext = code.replace('"r")', f'"r", load_namespaces=False, extensions={str(ns_path)!r})')
    run = subprocess.run([sys.executable, "-c", code_ext], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-2:] == ["ZarrTestProbe", "2.5"]


def test_manager_and_extensions_together_is_an_error(tmp_path, extension):
    from pynwb import get_manager

    with pytest.raises(ValueError, match="either manager= or extensions="):
        NWBZarrIO(tmp_path / "x.zarr", mode="w", manager=get_manager(), extensions="x.yaml")
