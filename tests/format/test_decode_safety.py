"""Hostile and damaged chunks (issue 14, points 1, 2, 5).

A pickle anywhere in a codec chain goes through the restricted unpickler even with numcodecs' unsafe-pickle
opt-in set (checked in a child process that has the opt-in), in every path that decodes chunks; decoding
refuses what a chunk cannot hold before allocating it (checked under an address-space limit); a chunk
that decodes to another size than its metadata says raises an error naming dataset and chunk key.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import numcodecs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pynwb import NWBFile, TimeSeries
from zarr.buffer import default_buffer_prototype

import nwbzarr
from _legacy_stores import read_doc, write_chunk, write_doc
from nwbzarr import NWBZarrIO
from nwbzarr._private_api import sync
from nwbzarr.backend.dataio import ZarrDataIO
from nwbzarr.format.base import FormatError
from nwbzarr.storage import H5ContainerStore, SQLiteStore, ZipContainerStore

GROUP = "general/extracellular_ephys/electrodes/group"
LOCATION = "general/extracellular_ephys/electrodes/location"
DATA = "acquisition/ts/data"
SRC = str(Path(nwbzarr.__file__).resolve().parents[1])
TESTS = str(Path(__file__).resolve().parents[1])


class _Touch:
    """A payload whose unpickling would run ``os.system`` (it must never be)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


# numcodecs' opt-in, and zarr >= 3.4's own: a user who enabled every unsafe setting still runs no pickle
BOTH_PICKLE_OPT_INS = {"NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE": "1", "ZARR_ARRAY__ALLOW_UNSAFE_PICKLE_DECODE": "True"}

def _nwbfile(data: np.ndarray | None = None, chunks: tuple[int, ...] | None = None, compressors=None) -> NWBFile:
    nwb = NWBFile(session_description="decode", identifier="decode-1",
                  session_start_time=datetime(2024, 1, 2, tzinfo=UTC))
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank0", description="s", location="CA1", device=device)
    for _ in range(3):
        nwb.add_electrode(group=group, location="CA1")
    values = np.arange(20.0) if data is None else data
    wrapped = ZarrDataIO(values, chunks=chunks or values.shape, compressors=compressors)
    nwb.add_acquisition(TimeSeries(name="ts", data=wrapped, unit="m", rate=10.0))
    return nwb


def _write(path: Path | object, zarr_format: int, **kwargs) -> None:
    with NWBZarrIO(path, "w", zarr_format=zarr_format) as io:
        io.write(_nwbfile(**kwargs))


def _child(script: str, *args: str, env: dict | None = None) -> str:
    """Run ``script`` in a fresh interpreter using this nwbzarr; its output (stdout and stderr)."""
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, TESTS]), **(env or {})}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], env=full_env,
                          capture_output=True, text=True, timeout=600)
    return done.stdout + done.stderr


def _spec_array(store: Path) -> str:
    found = sorted(store.glob("specifications/core/*/nwb.base/.zarray"))
    return str(found[0].parent.relative_to(store))


# --- point 1: pickles, wherever they stand, with the unsafe opt-in set ---------------------------
OPS_IN_CHILD = """
    import sys, warnings
    warnings.simplefilter("ignore")
    import numcodecs.pickles
    assert numcodecs.pickles.ALLOW_UNSAFE_PICKLE_DECODE, "the unsafe-pickle opt-in is not set"
    from pathlib import Path
    from typer.testing import CliRunner
    from nwbzarr import NWBZarrIO
    from nwbzarr.cli import app
    from nwbzarr.convert import convert
    from nwbzarr.info import summarise
    from nwbzarr.migrate import migrate

    store, out = Path(sys.argv[1]), Path(sys.argv[2])

    def read():
        with NWBZarrIO(store, "r") as io:
            nwb = io.read()
            nwb.electrodes["group"][:]
            nwb.electrodes["location"][:]
            nwb.acquisition["ts"].data[:]

    def cli(*args):
        result = CliRunner().invoke(app, [*args])
        if result.exception is not None:
            raise result.exception

    ops = {
        "open": lambda: NWBZarrIO(store, "r").close(),
        "read": read,
        "migrate": lambda: migrate(store, out / "m.zarr", "v3", progress=False),
        "convert": lambda: convert(store, out / "c.nwb", progress=False),
        "info": lambda: summarise(str(store)),
        "specs": lambda: cli("specs", str(store)),
        "refs": lambda: cli("refs", str(store), "/general/extracellular_ephys/shank0"),
        "truncate": lambda: cli("truncate", str(store), str(out / "t.zarr"), "-n", "2"),
    }
    for name, op in ops.items():
        try:
            op()
            print(f"{name}: ok")
        except BaseException as exc:
            print(f"{name}: {type(exc).__name__}: {exc}".replace(chr(10), " "))
"""


def _pickle_in_chain(store: Path, array: str, where: str, payload: bytes) -> None:
    """Put a pickle codec at ``where`` ("second filter" or "compressor") of ``array`` with ``payload``."""
    zarray = read_doc(store, f"{array}/.zarray")
    if where == "compressor":
        zarray["compressor"] = {"id": "pickle", "protocol": 5}
        write_doc(store, f"{array}/.zarray", zarray)
        (store / array / "0").write_bytes(payload)
    else:
        zarray["filters"] = list(zarray["filters"]) + [{"id": "pickle", "protocol": 5}]
        write_doc(store, f"{array}/.zarray", zarray)
        write_chunk(store, array, payload)


@pytest.mark.parametrize("where", ["second filter", "compressor"])
@pytest.mark.parametrize("array", ["references", "cached spec", "numeric"])
def test_pickle_anywhere_never_runs_even_with_the_unsafe_opt_in(tmp_path: Path, array: str, where: str):
    store = tmp_path / "hostile.nwb.zarr"
    _write(store, 2)
    name = {"references": GROUP, "cached spec": _spec_array(store), "numeric": DATA}[array]
    marker = tmp_path / "payload-ran"
    if array == "numeric" and where == "second filter":
        zarray = read_doc(store, f"{name}/.zarray")
        zarray["filters"] = [{"id": "delta", "dtype": "<f8"}]
        write_doc(store, f"{name}/.zarray", zarray)
    _pickle_in_chain(store, name, where, pickle.dumps(_Touch(str(marker))))
    out = tmp_path / "out"
    out.mkdir()
    report = _child(OPS_IN_CHILD, str(store), str(out), env=BOTH_PICKLE_OPT_INS)
    assert not marker.exists(), report
    assert "opt-in is not set" not in report and "read:" in report, report
    lines = dict(line.split(": ", 1) for line in report.splitlines() if line.split(": ", 1)[0] in
                 ("open", "read", "migrate", "convert", "info", "specs", "refs", "truncate"))
    # a cached spec of a namespace pynwb already holds at that version is not read at open (hdmf would ignore
    # it), so the commands reading every cached spec are the ones that meet it
    failing = "specs" if array == "cached spec" else "read"
    assert f"/{name}" in lines[failing], report
    if array != "numeric":  # a numeric array with a pickle codec is refused when its metadata is parsed
        assert "refusing to unpickle posix.system" in lines[failing], report
        assert "refusing to unpickle" in lines["migrate"], report


def test_legitimate_pickle_in_second_position_still_reads(tmp_path: Path):
    store = tmp_path / "s.nwb.zarr"
    _write(store, 2)
    values = np.array(["CA1", "CA3", "DG"], dtype=object)
    zarray = read_doc(store, f"{LOCATION}/.zarray")
    zarray["filters"] = [{"id": "pickle", "protocol": 5}, {"id": "zlib", "level": 1}]
    write_doc(store, f"{LOCATION}/.zarray", zarray)
    write_chunk(store, LOCATION, numcodecs.Zlib(1).encode(pickle.dumps(values, protocol=5)))
    with NWBZarrIO(store, "r") as io:
        assert io.read().electrodes["location"][:].tolist() == ["CA1", "CA3", "DG"]


def test_pickle_codec_in_a_v3_codec_list_is_refused(tmp_path: Path):
    import json

    store = tmp_path / "s.nwb.zarr"
    _write(store, 3)
    from nwbzarr.format.v3 import parsed_metadata

    doc = json.loads((store / DATA / "zarr.json").read_text())
    doc["codecs"] = doc["codecs"] + [{"name": "numcodecs.pickle", "configuration": {"protocol": 5}}]
    with pytest.raises(FormatError, match="refusing a pickle codec"):
        parsed_metadata(doc)


# --- point 2: no allocation beyond what the chunk can hold ----------------------------------------
LIMITED_READ = """
    import resource, sys, warnings
    warnings.simplefilter("ignore")
    from nwbzarr import NWBZarrIO
    from nwbzarr.backend.io import ZarrIO
    store, array = sys.argv[1], sys.argv[2]
    io = ZarrIO(store, "r")
    root = io.read_builder()
    size = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size + (400 << 20), resource.RLIM_INFINITY))
    try:
        root[array].data[:]
        print("no error")
    except BaseException as exc:
        print(f"{type(exc).__name__}: {exc}")
"""


class _Reduce:
    """Pickles as ``func(*args)`` (then ``state``, if given, through BUILD)."""

    def __init__(self, func, args, state=None) -> None:
        self.value = (func, args) if state is None else (func, args, state)

    def __reduce__(self):
        return self.value


def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


HOSTILE_PICKLES = {
    "bytearray(1.9e9)": _Reduce(bytearray, (1_900_000_000,)),
    "array of 1e9 elements": _Reduce(_reconstruct(), (np.ndarray, (1_000_000_000,), b"b")),
    "object array state of 1e9 elements": _Reduce(_reconstruct(), (np.ndarray, (0,), b"b"),
                                                  (1, (1_000_000_000,), np.dtype(object), False, [None])),
}


@pytest.mark.parametrize("name", list(HOSTILE_PICKLES))
def test_small_pickle_cannot_allocate_gigabytes(tmp_path: Path, name: str):
    store = tmp_path / "s.nwb.zarr"
    _write(store, 2)
    payload = pickle.dumps(HOSTILE_PICKLES[name], protocol=5)
    assert len(payload) < 200
    zarray = read_doc(store, f"{GROUP}/.zarray")
    zarray["filters"] = [{"id": "pickle", "protocol": 5}]
    write_doc(store, f"{GROUP}/.zarray", zarray)
    write_chunk(store, GROUP, payload)
    report = _child(LIMITED_READ, str(store), GROUP)
    assert report.startswith(("PickleTooLargeError", "FormatError", "ChunkError")), report
    assert f"/{GROUP}" in report and "MemoryError" not in report, report


def test_vlen_header_declaring_1e9_elements_allocates_nothing(tmp_path: Path):
    store = tmp_path / "s.nwb.zarr"
    _write(store, 2)
    write_chunk(store, LOCATION, (1_000_000_000).to_bytes(4, "little") + b"\0" * 16)
    report = _child(LIMITED_READ, str(store), LOCATION)
    assert report.startswith(("FormatError", "ChunkError")) and "declares 1000000000 elements where the chunk holds 3" in report
    assert f"/{LOCATION}" in report, report


@pytest.mark.parametrize("compressor", ["gzip", "zstd", "blosc"])
def test_decompression_bomb_is_refused_before_allocating(tmp_path: Path, compressor: str):
    store = tmp_path / "s.nwb.zarr"
    _write(store, 2)
    zarray = read_doc(store, f"{DATA}/.zarray")
    codec = {"gzip": numcodecs.GZip(1), "zstd": numcodecs.Zstd(1), "blosc": numcodecs.Blosc("zstd")}[compressor]
    zarray["compressor"] = codec.get_config()
    write_doc(store, f"{DATA}/.zarray", zarray)
    bomb = codec.encode(np.zeros(1 << 30, dtype="u1")) if compressor != "blosc" else _blosc_header_claiming(1 << 30)
    (store / DATA / "0").write_bytes(bytes(bomb))
    report = _child(LIMITED_READ, str(store), DATA)
    assert report.startswith("ChunkError") and f"dataset /{DATA}, chunk '{DATA}/0'" in report, report
    assert "MemoryError" not in report, report


def _blosc_header_claiming(nbytes: int) -> bytes:
    real = bytearray(numcodecs.Blosc("lz4").encode(np.zeros(4096, dtype="u1")))
    real[4:8] = nbytes.to_bytes(4, "little")
    return bytes(real)


def test_v3_zstd_bomb_is_refused(tmp_path: Path):
    store = tmp_path / "s.nwb.zarr"
    _write(store, 3, compressors=[numcodecs.Zstd(1)])
    chunk = next(p for p in (store / DATA).rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(numcodecs.Zstd(1).encode(np.zeros(1 << 30, dtype="u1")))
    report = _child(LIMITED_READ, str(store), DATA)
    assert report.startswith("ChunkError") and "declares 1073741824 bytes" in report, report


# --- point 5: chunks of the wrong size, in both layouts and every store ----------------------------
def _store_of(kind: str, tmp_path: Path):
    return {"directory": lambda: tmp_path / "d.nwb.zarr", "sqlite": lambda: SQLiteStore(tmp_path / "s.sqldb"),
            "zip": lambda: ZipContainerStore(tmp_path / "z.zipc"),
            "h5": lambda: H5ContainerStore(tmp_path / "h.h5c")}[kind]()


def _chunk_keys(store, prefix: str) -> list[str]:
    async def go():
        return [k async for k in store.list_prefix(prefix + "/")]

    return [k for k in sync(go()) if not k.rsplit("/", 1)[-1].startswith((".z", "zarr.json"))]


def _damage(store, key: str, how: str) -> None:
    proto = default_buffer_prototype()
    raw = sync(store.get(key, prototype=proto)).to_bytes()
    new = raw[: len(raw) // 2] if how == "truncated" else raw + raw[:8]
    sync(store.set(key, proto.buffer.from_bytes(new)))


@pytest.mark.parametrize("kind", ["directory", "sqlite", "zip", "h5"])
@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("compressors", [False, None], ids=["uncompressed", "blosc"])
@pytest.mark.parametrize("how", ["truncated", "padded"])
def test_chunk_of_the_wrong_size_names_dataset_and_key(tmp_path: Path, kind: str, zarr_format: int,
                                                         compressors, how: str):
    target = _store_of(kind, tmp_path)
    _write(target, zarr_format, data=np.arange(40.0).reshape(20, 2), chunks=(8, 2), compressors=compressors)
    from zarr.storage import LocalStore

    store = LocalStore(target) if isinstance(target, Path) else target
    keys = sorted(_chunk_keys(store, DATA))
    assert len(keys) == 3, keys
    _damage(store, keys[1], how)
    with NWBZarrIO(target, "r") as io:
        data = io.read().acquisition["ts"].data
        for selection in (slice(None), slice(8, 10), 9, [1, 9]):
            with pytest.raises(FormatError, match=rf"dataset /{DATA}, chunk '{keys[1]}'"):
                data[selection]


def test_container_verify_never_runs_a_pickle_even_with_the_unsafe_opt_in(tmp_path: Path):
    import json

    root = tmp_path / "z.zipc"
    store = ZipContainerStore(root)
    _write(store, 2)
    proto = default_buffer_prototype()
    zarray = json.loads(sync(store.get(f"{LOCATION}/.zarray", prototype=proto)).to_bytes())
    zarray["compressor"] = {"id": "pickle", "protocol": 5}
    marker = tmp_path / "payload-ran"
    sync(store.set(f"{LOCATION}/.zarray", proto.buffer.from_bytes(json.dumps(zarray).encode())))
    sync(store.set(f"{LOCATION}/0", proto.buffer.from_bytes(pickle.dumps(_Touch(str(marker))))))
    report = _child("""
        import sys, numcodecs.pickles
        assert numcodecs.pickles.ALLOW_UNSAFE_PICKLE_DECODE
        from nwbzarr.storage import ZipContainerStore
        print(ZipContainerStore(sys.argv[1]).verify().problems)
    """, str(root), env=BOTH_PICKLE_OPT_INS)
    assert not marker.exists(), report
    assert f"{LOCATION}/0: chunk does not decode" in report and "refusing to unpickle posix.system" in report, report


CODECS = {"blosc": numcodecs.Blosc("lz4"), "zstd": numcodecs.Zstd(1), "gzip": numcodecs.GZip(1),
          "zlib": numcodecs.Zlib(1), "lz4": numcodecs.LZ4(), "bz2": numcodecs.BZ2(1), "lzma": numcodecs.LZMA()}


@settings(max_examples=60, deadline=None)
@given(codec=st.sampled_from(sorted(CODECS)), n=st.integers(1, 5000), cut=st.floats(0, 0.999),
       seed=st.integers(0, 2**16))
def test_bounded_codecs_never_return_a_damaged_chunk(codec: str, n: int, cut: float, seed: int):
    """A chunk cut anywhere decodes to an error, never to values; the whole chunk decodes to its values."""
    from nwbzarr.format.safe_codecs import numeric_chain

    values = np.random.default_rng(seed).integers(0, 50, n).astype("<i4")
    encoded = bytes(CODECS[codec].encode(values))
    _, compressor = numeric_chain(None, CODECS[codec].get_config(), values.nbytes)
    np.testing.assert_array_equal(np.frombuffer(bytes(compressor.decode(encoded)), "<i4"), values)
    with pytest.raises(Exception) as info:
        compressor.decode(encoded[: int(len(encoded) * cut)])
    assert not isinstance(info.value, (MemoryError, AssertionError))


@settings(max_examples=40, deadline=None)
@given(items=st.lists(st.one_of(st.text(max_size=20), st.integers(-2**62, 2**62), st.none(),
                                st.binary(max_size=20)), min_size=1, max_size=50),
       protocol=st.sampled_from([2, 4, 5]))
def test_restricted_unpickler_rebuilds_object_arrays_within_its_budget(items: list, protocol: int):
    from nwbzarr.format.unpickle import restricted_loads

    values = np.empty(len(items), dtype=object)
    values[:] = items
    back = restricted_loads(pickle.dumps(values, protocol=protocol), len(items) * 8)
    assert type(back) is np.ndarray and back.tolist() == items


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_migrate_and_convert_name_a_truncated_chunk(tmp_path: Path, zarr_format: int):
    from nwbzarr.convert import convert
    from nwbzarr.migrate import MigrationError, migrate

    source = tmp_path / "s.nwb.zarr"
    _write(source, zarr_format, data=np.arange(40.0), chunks=(8,), compressors=False)
    from zarr.storage import LocalStore

    key = sorted(_chunk_keys(LocalStore(source), DATA))[2]
    _damage(LocalStore(source), key, "truncated")
    with pytest.raises(MigrationError, match=rf"dataset /{DATA}.*chunk '{key}'"):
        migrate(source, tmp_path / "m.zarr", progress=False)
    with pytest.raises(FormatError, match=rf"dataset /{DATA}.*chunk '{key}'"):
        convert(source, tmp_path / "c.nwb", progress=False)
