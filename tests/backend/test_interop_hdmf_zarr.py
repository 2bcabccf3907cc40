"""Stores written by nwbzarr are read by hdmf-zarr 0.14 itself (Python >= 3.12, zarr >= 3.4, own venv)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _nwb_factory import broad_nwbfile
from nwbzarr import NWBZarrIO

VENV = Path(os.environ.get("NWBZARR_TEST_VENVS", Path.home() / ".cache" / "nwbzarr-test-venvs")) / "hdmf-zarr-0.14"

READER = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
from hdmf_zarr import NWBZarrIO
out = {}
with NWBZarrIO(sys.argv[1], "r") as io:
    nwb = io.read()
    out["es"] = np.asarray(nwb.acquisition["es"].data[:]).tolist()
    out["trial_labels"] = [str(x) for x in nwb.trials["label"].data[:]]
    out["spikes"] = [list(map(float, nwb.trials["spikes"][i])) for i in range(len(nwb.trials))]
    out["electrode_groups"] = [g.name for g in nwb.electrodes["group"].data[:]]
    out["epoch_ts"] = [row[2].name for row in nwb.epochs["timeseries"].target.data[:]]
    out["position"] = list(map(float, nwb.electrode_groups["shank0"].position[()]))
    out["speed_ts_linked"] = bool(np.array_equal(nwb.processing["behavior"]["speed"].timestamps[:],
                                                 nwb.processing["behavior"]["Position"]["xy"].timestamps[:]))
print(json.dumps(out))
"""


def _python312() -> str | None:
    candidates = [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.1[2-9]*/bin/python3"))]
    candidates.append(shutil.which("python3.12") or "")
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="session")
def hdmf_zarr_014(file_lock) -> Path:
    py = _python312()
    if py is None:
        pytest.skip("hdmf-zarr 0.14 needs Python >= 3.12, and no python3.12 exists here")
    python = VENV / "bin" / "python"
    with file_lock(VENV.parent / f".{VENV.name}.lock"):  # one builder at a time (xdist workers, CI runs)
        if not python.exists() or subprocess.run([python, "-c", "import hdmf_zarr"], capture_output=True).returncode:
            subprocess.run([py, "-m", "venv", "--clear", str(VENV)], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", "hdmf-zarr==0.14.0"], check=True)
    return python


def test_hdmf_zarr_014_reads_what_nwbzarr_wrote(tmp_path, hdmf_zarr_014):
    path = tmp_path / "broad.nwb.zarr"
    nwb = broad_nwbfile()
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwb)
    run = subprocess.run([hdmf_zarr_014, "-c", READER, str(path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["es"] == np.asarray(nwb.acquisition["es"].data).tolist()
    assert got["trial_labels"] == ["a", "ü é 🎉"]
    assert got["spikes"] == [[0.1, 0.2], []]
    assert got["electrode_groups"] == ["shank0"] * 4
    assert got["epoch_ts"] == ["es", "movie"]
    assert got["position"] == [1.0, 2.0, 3.0]
    assert got["speed_ts_linked"] is True
    assert sys.version_info >= (3, 11)


SCALAR_REFS = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
from hdmf.build import DatasetBuilder, GroupBuilder, ReferenceBuilder
from hdmf.common import get_manager
from hdmf_zarr import ZarrIO
path, mode = sys.argv[1], sys.argv[2]
if mode == "write":
    root = GroupBuilder("root")
    group = GroupBuilder("z_group"); root.set_group(group)
    sub = GroupBuilder("sub"); group.set_group(sub)
    values = DatasetBuilder("values", data=np.arange(4, dtype="int32")); group.set_dataset(values)
    root.set_dataset(DatasetBuilder("a_ref_to_group", data=ReferenceBuilder(sub), dtype="object"))
    root.set_dataset(DatasetBuilder("a_ref_to_dataset", data=ReferenceBuilder(values), dtype="object"))
    with ZarrIO(path, mode="w", manager=get_manager()) as io:
        io.write_builder(root)
else:
    with ZarrIO(path, mode="r", manager=get_manager()) as io:
        root = io.read_builder()
        out = {name: [type(root[name].data).__name__, root[name].data.builder.name,
                      root[name].data.builder.parent.name, str(root[name].dtype)]
               for name in ("a_ref_to_group", "a_ref_to_dataset")}
    print(json.dumps(out))
"""


def test_scalar_references_interoperate_with_hdmf_zarr_014(tmp_path, hdmf_zarr_014):
    """Both directions: hdmf-zarr 0.14 reads nwbzarr's 0-d references as ReferenceBuilders, and nwbzarr
    reads hdmf-zarr 0.14's the same way (HDF5IO cannot read its own scalar references: hdmf 6.2 bug)."""
    from hdmf.build import ReferenceBuilder

    from _helpers import scalar_reference_builders
    from nwbzarr import ZarrIO

    ours = tmp_path / "ours.zarr"
    with ZarrIO(ours, "w") as io:
        io.write_builder(scalar_reference_builders(), cache_spec=False)
    run = subprocess.run([hdmf_zarr_014, "-c", SCALAR_REFS, str(ours), "read"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {
        "a_ref_to_group": ["ReferenceBuilder", "sub", "z_group", "object"],
        "a_ref_to_dataset": ["ReferenceBuilder", "values", "z_group", "object"],
    }
    theirs = tmp_path / "theirs.zarr"
    run = subprocess.run([hdmf_zarr_014, "-c", SCALAR_REFS, str(theirs), "write"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    with ZarrIO(theirs, "r") as io:
        root = io.read_builder()
        assert isinstance(root["a_ref_to_group"].data, ReferenceBuilder)
        assert root["a_ref_to_group"].data.builder is root["z_group/sub"]
        assert root["a_ref_to_dataset"].data.builder is root["z_group/values"]
        assert root["a_ref_to_group"].dtype == "object"


MANIFEST_READER = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
import hdmf_zarr
with getattr(hdmf_zarr, sys.argv[2])(sys.argv[1], "r") as io:
    nwb = io.read()
    print(json.dumps({"big": np.asarray(nwb.acquisition["big"].data[:]).tolist(),
                      "trials": np.asarray(nwb.trials["start_time"].data[:]).tolist()}))
"""


@pytest.mark.parametrize("fmt", [3, 2])
def test_hdmf_zarr_014_reads_a_store_with_a_chunk_manifest(tmp_path, hdmf_zarr_014, fmt):
    """The sidecar ``nwbzarr_manifest.json`` is no Zarr node: hdmf-zarr 0.14 reads the store, with consolidated
    metadata and without it (when zarr lists the root's children and meets the manifest)."""
    from nwbzarr.verify import verify
    from test_verify import DATA, small_nwbfile

    path = tmp_path / "m.nwb.zarr"
    nwb = small_nwbfile()
    nwb.add_trial(start_time=1.0, stop_time=2.0)
    with NWBZarrIO(path, mode="w", zarr_format=fmt) as io:
        io.manifest_checksums = True
        io.write(nwb)
    assert (path / "nwbzarr_manifest.json").is_file() and verify(path, checksums=True).ok
    reader = "NWBZarrIO" if fmt == 3 else "NWBZarrV2IO"
    for consolidated in (True, False):
        if not consolidated:
            if fmt == 3:
                root = json.loads((path / "zarr.json").read_text())
                root.pop("consolidated_metadata")
                (path / "zarr.json").write_text(json.dumps(root))
            else:
                (path / ".zmetadata").unlink()
        run = subprocess.run([hdmf_zarr_014, "-c", MANIFEST_READER, str(path), reader], capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        got = json.loads(run.stdout.strip().splitlines()[-1])
        assert got == {"big": DATA.tolist(), "trials": [1.0]}
