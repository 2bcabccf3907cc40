"""Legacy stores written by nwbzarr are read by hdmf-zarr 0.13 itself (zarr 2), without unsafe pickle.

hdmf-zarr 0.13 needs zarr < 3 and numcodecs < 0.16, so it runs in its own virtual environment, built
once and cached under ``~/.cache/nwbzarr-test-venvs/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.ecephys import ElectricalSeries

from nwbzarr import NWBZarrIO
from nwbzarr.convert import convert

VENV = Path.home() / ".cache" / "nwbzarr-test-venvs" / "hdmf-zarr-0.13.0"
READY = VENV / ".nwbzarr-ready"
REQUIREMENTS = ["hdmf-zarr==0.13.0", "zarr<3", "numcodecs<0.16"]
UNREACHABLE = ("No matching distribution", "Could not find a version", "Failed to establish a new connection",
               "Temporary failure in name resolution", "Network is unreachable", "ConnectionError",
               "Max retries exceeded")

READER = textwrap.dedent('''
    import os, sys
    assert "NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE" not in os.environ
    import numcodecs.pickles
    assert not numcodecs.pickles.ALLOW_UNSAFE_PICKLE_DECODE
    import hdmf_zarr, zarr
    assert hdmf_zarr.__version__.startswith("0.13"), hdmf_zarr.__version__
    assert zarr.__version__.startswith("2."), zarr.__version__
    from hdmf.testing import TestCase
    from hdmf_zarr.nwb import NWBZarrIO
    from pynwb import NWBHDF5IO
    with NWBZarrIO(sys.argv[1], "r") as zio, NWBHDF5IO(sys.argv[2], "r") as hio:
        z, h = zio.read(), hio.read()
        TestCase().assertContainerEqual(z, h, ignore_hdmf_attrs=True)
        if z.epochs is not None:
            rows = z.epochs["timeseries"][:]
            print("epochs", [(r[0][0], r[0][1], r[0][2].name) for r in rows])
        if z.electrodes is not None:
            print("groups", [g.name for g in z.electrodes["group"][:]])
    print("READ-OK")
''')


def _python() -> Path:
    return VENV / "bin" / "python"


@pytest.fixture(scope="module")
def hdmf_zarr_013(file_lock) -> Path:
    """The cached virtual environment with hdmf-zarr 0.13 (built on first use, by one xdist worker at a time)."""
    if READY.exists() and _python().exists():
        return _python()
    with file_lock(VENV.parent / f".{VENV.name}.lock"):
        return _build_hdmf_zarr_013()


def _build_hdmf_zarr_013() -> Path:
    if READY.exists() and _python().exists():  # another worker built it while this one waited
        return _python()
    if not _python().exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    result = subprocess.run([str(_python()), "-m", "pip", "install", "-q", *REQUIREMENTS],
                            capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        if any(marker in output for marker in UNREACHABLE):
            pytest.skip(f"cannot build the hdmf-zarr 0.13 environment: package index unreachable ({output[-300:]})")
        raise AssertionError(f"pip install {' '.join(REQUIREMENTS)} failed:\n{output[-3000:]}")
    READY.write_text(" ".join(REQUIREMENTS))
    return _python()


def _read_with_013(python: Path, store: Path, hdf5: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMCODECS", "PYTHON"))}
    script = store.parent / "read013.py"
    script.write_text(READER)
    result = subprocess.run([str(python), str(script), str(store), str(hdf5)], capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0 and "READ-OK" in result.stdout, result.stdout + result.stderr[-4000:]
    return result.stdout


def _nwbfile() -> NWBFile:
    nwb = NWBFile(session_description="for hdmf-zarr 0.13", identifier="compat-1",
                  session_start_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
                  file_create_date=datetime(2024, 1, 2, 4, tzinfo=UTC),
                  keywords=["a", "b"], experimenter=["Doe, Jane"])
    device = nwb.create_device("probe")
    shanks = [nwb.create_electrode_group(f"shank{i}", description="s", location="CA1", device=device)
              for i in range(2)]
    for i in range(3):
        nwb.add_electrode(group=shanks[i % 2], location="CA1")
    region = nwb.create_electrode_table_region([0, 2], "two electrodes")
    es = ElectricalSeries(name="es", data=np.arange(20, dtype="int16").reshape(10, 2), electrodes=region,
                          rate=1000.0)
    ts = TimeSeries(name="ts", data=np.linspace(0, 1, 10), unit="m", timestamps=np.arange(10.0))
    nwb.add_acquisition(es)
    nwb.add_acquisition(ts)
    nwb.add_acquisition(TimeSeries(name="linked", data=np.arange(10, dtype="int32"), unit="m", timestamps=ts))
    nwb.add_trial_column("label", "text")
    nwb.add_trial(start_time=0.0, stop_time=1.0, label="first")
    nwb.add_trial(start_time=1.0, stop_time=2.0, label="ü é")
    nwb.add_epoch(0.0, 1.0, ["x"], [ts])
    nwb.add_epoch(1.0, 2.0, ["y", "z"], [es])
    return nwb


def test_hdmf_zarr_013_reads_a_legacy_store_written_by_nwbzarr(hdmf_zarr_013: Path, tmp_path: Path):
    zarr_path, h5_path = tmp_path / "compat.nwb.zarr", tmp_path / "compat.nwb"
    with NWBZarrIO(zarr_path, "w", zarr_format=2) as io:
        io.write(_nwbfile())
    with NWBHDF5IO(h5_path, "w") as io:
        io.write(_nwbfile())
    filters = {line for p in zarr_path.rglob(".zarray") for line in p.read_text().split('"id":')[1:]}
    assert not [f for f in filters if f.startswith('"pickle"')]
    out = _read_with_013(hdmf_zarr_013, zarr_path, h5_path)
    assert "epochs [(0, 1, 'ts'), (1000, 1000, 'es')]" in out
    assert "groups ['shank0', 'shank1', 'shank0']" in out


@pytest.mark.parametrize("name", ["sample", "dci", "sharded"])
def test_hdmf_zarr_013_reads_shared_files_converted_by_nwbzarr(hdmf_zarr_013: Path, shared_data: Path,
                                                               tmp_path: Path, name: str):
    hdf5 = shared_data / "hdf5" / f"{name}.nwb"
    target = tmp_path / f"{name}.nwb.zarr"
    convert(hdf5, target, zarr_format=2)
    _read_with_013(hdmf_zarr_013, target, hdf5)


def test_hdmf_zarr_013_reads_a_store_migrated_to_v2(hdmf_zarr_013: Path, shared_data: Path, tmp_path: Path):
    from nwbzarr.migrate import migrate

    report = migrate(shared_data / "hdmf_zarr_0.14" / "sample.nwb.zarr", tmp_path / "sample.nwb.zarr", "v2",
                     progress=False)
    assert report.ok and report.verified
    _read_with_013(hdmf_zarr_013, tmp_path / "sample.nwb.zarr", shared_data / "hdf5" / "sample.nwb")


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip(reason="the cached venv layout above is POSIX-only")


ASCII_STORE = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    from pynwb import get_class, load_namespaces
    from pynwb.spec import NWBDatasetSpec, NWBGroupSpec, NWBNamespaceBuilder
    from pynwb.testing.mock.file import mock_NWBFile
    from hdmf_zarr.nwb import NWBZarrIO
    folder, store = Path(sys.argv[1]), sys.argv[2]
    ns = NWBNamespaceBuilder("ascii test", "ndx-asciitest", version="0.1.0", author="t", contact="t@example.org")
    ns.include_type("NWBDataInterface", namespace="core")
    ns.add_spec("ndx-asciitest.extensions.yaml", NWBGroupSpec(
        neurodata_type_def="AsciiHolder", neurodata_type_inc="NWBDataInterface", doc="text of each kind",
        datasets=[NWBDatasetSpec(name="code", doc="scalar ascii", dtype="ascii"),
                  NWBDatasetSpec(name="label", doc="scalar text", dtype="text"),
                  NWBDatasetSpec(name="codes", doc="ascii array", dtype="ascii", shape=(None,))]))
    ns.export("ndx-asciitest.namespace.yaml", outdir=str(folder))
    load_namespaces(str(folder / "ndx-asciitest.namespace.yaml"))
    nwb = mock_NWBFile()
    holder = get_class("AsciiHolder", "ndx-asciitest")(name="h", code=b"ABC-1", label="\\u00fc label",
                                                        codes=[b"a", b"bc"])
    nwb.create_processing_module("m", "m").add(holder)
    with NWBZarrIO(store, "w") as io:
        io.write(nwb)
    with NWBZarrIO(store, "r") as io:
        h = io.read().processing["m"]["h"]
        print(json.dumps(DESCRIBE(h)))
''')

DESCRIBE = '''
def DESCRIBE(h):
    def one(v):
        return [type(v).__name__, v.decode() if isinstance(v, bytes) else v]
    return {"code": one(h.code), "label": one(h.label), "codes": [one(v) for v in h.codes[:]]}
'''


def _describe(holder) -> dict:
    scope: dict = {}
    exec(DESCRIBE, scope)
    return scope["DESCRIBE"](holder)


def test_scalar_ascii_of_a_013_store_reads_as_013_reads_it(hdmf_zarr_013: Path, tmp_path: Path):
    """A scalar ``dtype: ascii`` dataset written by hdmf-zarr 0.13: its container gets bytes, as with 0.13."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMCODECS", "PYTHON"))}
    store = tmp_path / "ascii.nwb.zarr"
    script = tmp_path / "ascii013.py"
    script.write_text(DESCRIBE + ASCII_STORE)
    result = subprocess.run([str(hdmf_zarr_013), str(script), str(tmp_path), str(store)], capture_output=True,
                            text=True, timeout=600, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = json.loads(result.stdout.strip().splitlines()[-1])
    assert expected["code"] == ["bytes", "ABC-1"] and expected["label"] == ["str", "ü label"]
    with NWBZarrIO(store, "r") as io:  # the extension is loaded from the store's cached namespace
        holder = io.read().processing["m"]["h"]
        assert _describe(holder) == expected


SCALAR_REF_013 = textwrap.dedent('''
    import json, sys
    from hdmf.common import get_manager
    from hdmf_zarr import ZarrIO
    with ZarrIO(sys.argv[1], "r", manager=get_manager()) as io:
        root = io.read_builder()
        print(json.dumps({n: [type(root[n].data).__name__, len(root[n].data), root[n].data[0].name]
                          for n in sys.argv[2:]}))
''')


def test_hdmf_zarr_013_reads_legacy_scalar_references_as_nwbzarr_does(hdmf_zarr_013: Path, tmp_path: Path):
    from _helpers import SCALAR_REF_TARGETS, scalar_reference_builders
    from nwbzarr import ZarrIO

    store = tmp_path / "refs.zarr"
    with ZarrIO(store, "w", zarr_format=2) as io:
        io.write_builder(scalar_reference_builders(), cache_spec=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMCODECS", "PYTHON"))}
    result = subprocess.run([str(hdmf_zarr_013), "-c", SCALAR_REF_013, str(store), *SCALAR_REF_TARGETS],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = json.loads(result.stdout.strip().splitlines()[-1])
    with ZarrIO(store, "r") as io:
        root = io.read_builder()
        ours = {n: [len(root[n].data), root[n].data[0].name] for n in SCALAR_REF_TARGETS}
    assert {n: v[1:] for n, v in theirs.items()} == ours
    assert {v[0] for v in theirs.values()} == {"BuilderZarrReferenceDataset"}
