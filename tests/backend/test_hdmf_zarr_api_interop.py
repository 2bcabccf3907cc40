"""The same hdmf-zarr 0.14 API calls run in hdmf-zarr 0.14 itself (its own venv) and in nwbzarr: same results.

One script per test runs in the hdmf-zarr 0.14 venv and prints JSON; nwbzarr does the same steps here.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import zarr
from hdmf.build import GroupBuilder
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from zarr.abc.codec import ArrayArrayCodec, BytesBytesCodec

import nwbzarr
from nwbzarr import NWBZarrIO, ZarrDataIO, ZarrIO, convert_to_v3


def _sibling(name: str):
    """A test module beside this one (tests/backend is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_sibling_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hdmf_zarr_014 = _sibling("test_interop_hdmf_zarr").hdmf_zarr_014  # the session fixture building the venv
_api = _sibling("test_hdmf_zarr_api")

PRELUDE = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from datetime import datetime, timezone
import numpy as np
"""


def _run(python: Path, script: str, *args: str) -> dict:
    run = subprocess.run([python, "-c", PRELUDE + script, *map(str, args)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _kind(codec) -> str:
    return "array" if isinstance(codec, ArrayArrayCodec) else "bytes" if isinstance(codec, BytesBytesCodec) else "?"


def test_public_names_and_codec_arguments_match(tmp_path, hdmf_zarr_014):
    h5 = tmp_path / "f.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("gzip_shuffle", data=np.arange(5000, dtype="<i4"), chunks=(500,), compression="gzip",
                         shuffle=True)
        f.create_dataset("plain", data=np.arange(100, dtype="<f8"), chunks=(50,))
    theirs = _run(hdmf_zarr_014, r"""
import h5py, hdmf_zarr
from hdmf_zarr import ZarrDataIO
from zarr.abc.codec import ArrayArrayCodec, BytesBytesCodec
kind = lambda c: "array" if isinstance(c, ArrayArrayCodec) else "bytes" if isinstance(c, BytesBytesCodec) else "?"
out = {"all": hdmf_zarr.__all__}
with h5py.File(sys.argv[1], "r") as f:
    for name in ("gzip_shuffle", "plain"):
        codecs = ZarrDataIO.hdf5_to_zarr_filters(f[name])
        out[name] = [type(codecs).__name__, [kind(c) for c in codecs]]
out["true_is_none"] = ZarrDataIO(np.arange(3), compressors=True).io_settings == ZarrDataIO(np.arange(3)).io_settings
print(json.dumps(out))
""", h5)
    assert [n for n in theirs["all"] if not hasattr(nwbzarr, n)] == []
    with h5py.File(h5, "r") as f:
        for name in ("gzip_shuffle", "plain"):
            codecs = ZarrDataIO.hdf5_to_zarr_filters(f[name])
            assert [type(codecs).__name__, [_kind(c) for c in codecs]] == theirs[name]
    ours = ZarrDataIO(np.arange(3), compressors=True).get_io_params() == ZarrDataIO(np.arange(3)).get_io_params()
    assert theirs["true_is_none"] is True and ours is True


SHARDS = r"""
from pynwb import NWBFile, TimeSeries
from hdmf_zarr import NWBZarrIO, ZarrDataIO
nwb = NWBFile("api", "api-1", datetime(2024, 1, 2, tzinfo=timezone.utc))
data = np.arange(80000, dtype="float32").reshape(20000, 4)
nwb.add_acquisition(TimeSeries(name="ts", data=ZarrDataIO(data, chunks=(1000, 4), shards="auto"), unit="u", rate=1.0))
with NWBZarrIO(sys.argv[1], "w") as io:
    io.write(nwb)
doc = json.load(open(sys.argv[1] + "/acquisition/ts/data/zarr.json"))
print(json.dumps({"outer": doc["chunk_grid"]["configuration"]["chunk_shape"],
                  "inner": doc["codecs"][0]["configuration"]["chunk_shape"], "codec": doc["codecs"][0]["name"]}))
"""


def test_shards_auto_picks_the_same_shard_shape(tmp_path, hdmf_zarr_014):
    theirs = _run(hdmf_zarr_014, SHARDS, tmp_path / "theirs.nwb.zarr")
    nwb = NWBFile("api", "api-1", datetime(2024, 1, 2, tzinfo=UTC))
    data = np.arange(80000, dtype="float32").reshape(20000, 4)
    nwb.add_acquisition(TimeSeries(name="ts", data=ZarrDataIO(data, chunks=(1000, 4), shards="auto"), unit="u",
                                   rate=1.0))
    with NWBZarrIO(tmp_path / "ours.nwb.zarr", "w") as io:
        io.write(nwb)
    doc = json.loads((tmp_path / "ours.nwb.zarr/acquisition/ts/data/zarr.json").read_text())
    ours = {"outer": doc["chunk_grid"]["configuration"]["chunk_shape"],
            "inner": doc["codecs"][0]["configuration"]["chunk_shape"], "codec": doc["codecs"][0]["name"]}
    assert ours == theirs


def test_set_attribute_is_stored_as_hdmf_zarr_stores_it(tmp_path, hdmf_zarr_014):
    with ZarrIO(tmp_path / "ours.zarr", "w") as io:  # no manager, so no specs to cache (issue 11's business)
        io.write_builder(GroupBuilder("root", attributes={"ids": {30, 1, 2}}), cache_spec=False)
    theirs = _run(hdmf_zarr_014, r"""
from hdmf_zarr import ZarrIO
io = ZarrIO(sys.argv[1], "w")
io.write_attributes(obj=io._file, attributes={"ids": {30, 1, 2}})
io.close()
stored = json.load(open(sys.argv[1] + "/zarr.json"))["attributes"]["ids"]
with ZarrIO(sys.argv[2], "r") as io:
    read_ours = list(io.read_builder().attributes["ids"])
print(json.dumps({"stored": stored, "read_ours": read_ours}))
""", tmp_path / "theirs.zarr", tmp_path / "ours.zarr")
    ours = json.loads((tmp_path / "ours.zarr/zarr.json").read_text())["attributes"]["ids"]
    assert ours == theirs["stored"] == theirs["read_ours"] == [1, 2, 30]


APPEND = r"""
ELECTRODE_ARRAYS = ("id", "location", "group")
from pynwb import NWBFile
from hdmf_zarr import NWBZarrIO
path = sys.argv[1]
nwb = NWBFile("api", "api-1", datetime(2024, 1, 2, tzinfo=timezone.utc))
device = nwb.create_device("probe")
group = nwb.create_electrode_group("shank0", description="s", location="CA1", device=device)
for _ in range(2):
    nwb.add_electrode(group=group, location="CA1")
with NWBZarrIO(path, "w") as io:
    io.write(nwb)
with NWBZarrIO(path, "a") as io:
    nwb = io.read()
    shank1 = nwb.create_electrode_group("shank1", description="new", location="CA3", device=nwb.devices["probe"])
    nwb.add_electrode(group=shank1, location="CA3")
    io.write(nwb)
import zarr
table = path + "/general/extracellular_ephys/electrodes/"
print(json.dumps({name: [str(v) for v in zarr.open_array(table + name, mode="r")[:]] for name in ELECTRODE_ARRAYS}))
"""
ELECTRODE_ARRAYS = ("id", "location", "group")


def _arrays_on_disk(path: Path) -> dict:
    """Each electrodes column as its own zarr.json and chunks say (no consolidated metadata involved)."""
    table = path / "general/extracellular_ephys/electrodes"
    return {name: [str(v) for v in zarr.open_array(table / name, mode="r")[:]] for name in ELECTRODE_ARRAYS}


def test_append_a_new_container_in_mode_a_as_hdmf_zarr(tmp_path, hdmf_zarr_014):
    """hdmf-zarr 0.14 writes the new group and the row referencing it; (its readers then still see the old
    row count: the electrodes group's nested consolidated metadata is left stale, which nwbzarr rewrites)."""
    theirs = _run(hdmf_zarr_014, APPEND, tmp_path / "theirs.nwb.zarr")
    assert theirs["group"][-1] == "/general/extracellular_ephys/shank1" and len(theirs["id"]) == 3
    path = tmp_path / "ours.nwb.zarr"
    with NWBZarrIO(path, "w") as io:
        io.write(_api._electrodes_file())
    with NWBZarrIO(path, "a") as io:
        _api._append_new_group(io)
    assert _arrays_on_disk(path) == theirs
    with NWBZarrIO(path, "r") as io:
        assert _api._electrodes_seen(io) == (["shank0", "shank0", "shank1"], ["CA1", "CA1", "CA3"], "CA3")


def test_force_overwrite_replaces_an_hdf5_file_as_hdmf_zarr(tmp_path, hdmf_zarr_014):
    for name in ("theirs.nwb", "ours.nwb"):
        with NWBHDF5IO(tmp_path / name, "w") as io:
            io.write(NWBFile("api", "api-1", datetime(2024, 1, 2, tzinfo=UTC)))
    # hdmf-zarr 0.14's NWBZarrIO drops force_overwrite on its way to ZarrIO, so its ZarrIO is what is compared
    theirs = _run(hdmf_zarr_014, r"""
import os
from pynwb import NWBFile, get_manager
from hdmf_zarr import NWBZarrIO, ZarrIO
with ZarrIO(sys.argv[1], "w", manager=get_manager(), force_overwrite=True) as io:
    io.write(NWBFile("api", "api-2", datetime(2024, 1, 2, tzinfo=timezone.utc)))
with NWBZarrIO(sys.argv[1], "r") as io:
    print(json.dumps([os.path.isdir(sys.argv[1]), io.read().identifier]))
""", tmp_path / "theirs.nwb")
    with NWBZarrIO(tmp_path / "ours.nwb", "w", force_overwrite=True) as io:
        io.write(NWBFile("api", "api-2", datetime(2024, 1, 2, tzinfo=UTC)))
    with NWBZarrIO(tmp_path / "ours.nwb", "r") as io:
        assert [(tmp_path / "ours.nwb").is_dir(), io.read().identifier] == theirs


CONVERT = r"""
from hdmf_zarr import NWBZarrIO
out = []
for path in sys.argv[1:3]:
    with NWBZarrIO(path, "r") as io:
        nwb = io.read()
        out.append({"es": np.asarray(nwb.acquisition["es"].data[:]).tolist(),
                    "groups": [g.name for g in nwb.electrodes["group"].data[:]],
                    "labels": [str(x) for x in nwb.trials["label"].data[:]],
                    "spikes": [list(map(float, nwb.trials["spikes"][i])) for i in range(len(nwb.trials))],
                    "epoch_ts": [row[2].name for row in nwb.epochs["timeseries"].target.data[:]],
                    "nwb_version": io.read_builder().attributes["nwb_version"]})
print(json.dumps(out))
"""


def test_convert_to_v3_result_reads_in_hdmf_zarr_like_its_own_v3_file(tmp_path, shared_data, hdmf_zarr_014):
    """hdmf-zarr 0.14 reads nwbzarr's conversion of hdmf-zarr 0.13's `sample` as it reads its own 0.14 write
    of the same content (hdmf-zarr 0.14's own convert_to_v3 fails on this file: "Found bad link to object
    /intervals/epochs/timeseries")."""
    convert_to_v3(shared_data / "hdmf_zarr_0.13" / "sample.nwb.zarr", tmp_path / "ours.nwb.zarr")
    ours, theirs = _run(hdmf_zarr_014, CONVERT, tmp_path / "ours.nwb.zarr",
                        shared_data / "hdmf_zarr_0.14" / "sample.nwb.zarr")
    assert ours == theirs
    assert ours["groups"] and ours["es"] and ours["epoch_ts"]
