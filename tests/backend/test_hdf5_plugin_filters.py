"""HDF5 files compressed with plugin filters (bitshuffle, HDF5-framed LZ4, blosc, zstd; written with
hdf5plugin, as many acquisition tools do) convert to Zarr with equivalent codecs and identical data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

hdf5plugin = pytest.importorskip("hdf5plugin")  # in the test extra; a user's checkout may lack it

from hdmf.backends.hdf5 import H5DataIO  # noqa: E402
from pynwb import NWBHDF5IO, NWBFile, TimeSeries  # noqa: E402

from nwbzarr import NWBZarrIO  # noqa: E402
from nwbzarr.convert import convert  # noqa: E402

FILTERS = {
    # name: (hdf5plugin filter, codec names expected in the Zarr array's codec pipeline)
    "bitshuffle": (lambda: hdf5plugin.Bitshuffle(cname="none"), {"imagecodecs_bitshuffle"}),
    "bitshuffle-lz4": (lambda: hdf5plugin.Bitshuffle(cname="lz4"), {"blosc"}),
    "bitshuffle-zstd": (lambda: hdf5plugin.Bitshuffle(cname="zstd", clevel=3), {"blosc"}),
    "lz4": (lambda: hdf5plugin.LZ4(), {"imagecodecs_lz4h5"}),
    "blosc-lz4-bitshuffle": (lambda: hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE),
                             {"blosc"}),
    "zstd": (lambda: hdf5plugin.Zstd(clevel=3), {"zstd"}),
}


def _signal() -> np.ndarray:
    rng = np.random.default_rng(3)
    return (rng.normal(0, 40, size=(5000, 6)).cumsum(axis=0) % 3000).astype("int16")


def _codec_names(meta: dict) -> set[str]:
    names = set()
    for codec in meta["codecs"]:
        name = codec["name"]
        if name.startswith("numcodecs."):
            name = name[len("numcodecs."):]
        names.add(name)
    return names


@pytest.mark.parametrize("name", list(FILTERS))
def test_plugin_filtered_hdf5_converts_with_equivalent_codecs(tmp_path, name) -> None:
    make_filter, expected = FILTERS[name]
    data = _signal()
    nwb = NWBFile(session_description="plugin filters", identifier=name,
                  session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    wrapped = H5DataIO(data, chunks=(1000, 6), allow_plugin_filters=True, **make_filter())
    nwb.add_acquisition(TimeSeries(name="ts", data=wrapped, unit="uV", rate=30000.0))
    source = tmp_path / f"{name}.nwb"
    with NWBHDF5IO(str(source), "w") as io:
        io.write(nwb)
    target = tmp_path / f"{name}.nwb.zarr"
    convert(source, target)
    meta = json.loads((target / "acquisition" / "ts" / "data" / "zarr.json").read_text())
    assert expected <= _codec_names(meta), _codec_names(meta)
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [1000, 6]
    with NWBZarrIO(str(target), mode="r") as io:
        np.testing.assert_array_equal(io.read().acquisition["ts"].data[:], data)


@pytest.mark.parametrize("name", ["lz4", "bitshuffle"])
def test_converted_store_reads_in_a_fresh_interpreter(tmp_path, name) -> None:
    """A reader that never converted anything finds imagecodecs' codecs by itself."""
    import subprocess
    import sys

    make_filter, _ = FILTERS[name]
    data = _signal()
    nwb = NWBFile(session_description="fresh", identifier=name, session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    nwb.add_acquisition(TimeSeries(name="ts", unit="uV", rate=30000.0,
                                   data=H5DataIO(data, chunks=(1000, 6), allow_plugin_filters=True, **make_filter())))
    with NWBHDF5IO(str(tmp_path / "f.nwb"), "w") as io:
        io.write(nwb)
    convert(tmp_path / "f.nwb", tmp_path / "f.nwb.zarr")
    np.save(tmp_path / "expected.npy", data)
    code = (
        "import sys, numpy as np\n"
        "from nwbzarr import NWBZarrIO\n"
        "with NWBZarrIO(sys.argv[1], mode='r') as io:\n"
        "    got = io.read().acquisition['ts'].data[:]\n"
        "assert np.array_equal(got, np.load(sys.argv[2]))\n"
        "print('same')\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "f.nwb.zarr"), str(tmp_path / "expected.npy")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "same"
