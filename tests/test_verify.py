"""The chunk manifest written at close, and ``nwbzarr verify`` / ``io.verify()`` (issue 14, point 6): a chunk
lost, added or altered after a write is reported, on every store kind and in both layouts."""

from __future__ import annotations

import dbm.dumb
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from pynwb import NWBFile, TimeSeries
from typer.testing import CliRunner
from zarr.buffer import default_buffer_prototype

from nwbzarr import NWBZarrIO, ZarrDataIO
from nwbzarr._private_api import sync
from nwbzarr.cli import app
from nwbzarr.format.base import to_buffer
from nwbzarr.format.manifest import MANIFEST_KEY, ChunkGrid
from nwbzarr.storage import (
    DBMStore,
    H5ContainerStore,
    LMDBStore,
    MappingStore,
    SQLiteStore,
    ZipContainerStore,
)
from nwbzarr.verify import dandi_zarr_checksum, record_manifest, verify

SERIES = "acquisition/big/data"
DATA = np.arange(100 * 3, dtype="float64").reshape(100, 3) + 1.0  # no chunk equals the fill value


def small_nwbfile(name: str = "big") -> NWBFile:
    """One TimeSeries of 10 chunks (10 x 3 each) plus the usual small arrays of an NWB file."""
    nwb = NWBFile(session_description="verify", identifier="verify-1",
                  session_start_time=datetime(2024, 1, 2, tzinfo=UTC))
    nwb.add_acquisition(TimeSeries(name=name, data=ZarrDataIO(DATA, chunks=(10, 3)), unit="m", rate=10.0))
    return nwb


def make_store(kind: str, tmp_path: Path):
    if kind == "dir":
        return tmp_path / "f.nwb.zarr"
    return {"sqlite": lambda: SQLiteStore(tmp_path / "f.sqldb"),
            "lmdb": lambda: LMDBStore(tmp_path / "f.lmdb", map_size=2**26),
            "zip": lambda: ZipContainerStore(tmp_path / "fz"),
            "h5": lambda: H5ContainerStore(tmp_path / "fh"),
            "dbm": lambda: DBMStore(tmp_path / "f.dbm", open=dbm.dumb.open),
            "memory": lambda: MappingStore({})}[kind]()


def write(target, fmt: int, checksums: bool = False, nwb: NWBFile | None = None) -> None:
    with NWBZarrIO(target, mode="w", zarr_format=fmt) as io:
        io.manifest_checksums = checksums
        io.write(nwb or small_nwbfile())


def store_of(target):
    return zarr.storage.LocalStore(target) if isinstance(target, Path) else target


def manifest(target) -> dict:
    buf = sync(store_of(target).get(MANIFEST_KEY, default_buffer_prototype()))
    return json.loads(buf.to_bytes())


def chunk_key(fmt: int, i: int) -> str:
    return f"{SERIES}/c/{i}/0" if fmt == 3 else f"{SERIES}/{i}.0"


@pytest.mark.parametrize("fmt", [3, 2])
@pytest.mark.parametrize("kind", ["dir", "sqlite", "lmdb", "zip", "h5", "dbm", "memory"])
def test_lost_and_added_chunks_are_reported_on_every_store(kind, fmt, tmp_path) -> None:
    target = make_store(kind, tmp_path)
    write(target, fmt)
    assert manifest(target)["arrays"][SERIES] == {"grid": [10, 1], "chunks": "all"}
    assert verify(target).ok
    store = store_of(target)
    sync(store.delete(chunk_key(fmt, 3)))
    sync(store.set(chunk_key(fmt, 12), to_buffer(b"junk")))  # outside the grid
    sync(store.set("acquisition/stray", to_buffer(b"x")))  # under a group, no array's
    with NWBZarrIO(target, mode="r") as io:  # zarr's rule stays: the lost chunk reads as the fill value
        data = io.read().acquisition["big"].data[:]
        report = io.verify()
    assert np.array_equal(data[:30], DATA[:30]) and np.all(data[30:40] == 0.0)
    assert report.missing == [chunk_key(fmt, 3)]
    assert sorted(report.extra) == sorted([chunk_key(fmt, 12), "acquisition/stray"])
    assert not report.ok and not report.altered


@pytest.mark.parametrize("fmt", [3, 2])
def test_altered_chunk_is_found_only_with_checksums(fmt, tmp_path) -> None:
    target = tmp_path / "f.nwb.zarr"
    write(target, fmt, checksums=True)
    entry = manifest(target)["arrays"][SERIES]
    path = target / chunk_key(fmt, 5)
    assert entry["size"][chunk_key(fmt, 5)[len(SERIES) + 1:]] == path.stat().st_size
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert verify(target).ok  # same keys
    report = verify(target, checksums=True)
    assert report.altered == [chunk_key(fmt, 5)] and not report.missing and not report.extra


def test_cli_exit_codes_and_manifest_command(tmp_path) -> None:
    target = tmp_path / "f.nwb.zarr"
    write(target, 3)
    runner = CliRunner()
    clean = runner.invoke(app, ["verify", str(target)])
    assert clean.exit_code == 0, clean.output
    assert "OK" in clean.output
    no_sums = runner.invoke(app, ["verify", "--checksums", str(target)])
    assert no_sums.exit_code == 1 and "records no checksums" in no_sums.output
    assert runner.invoke(app, ["manifest", "--checksums", str(target)]).exit_code == 0
    assert runner.invoke(app, ["verify", "--checksums", str(target)]).exit_code == 0
    (target / chunk_key(3, 0)).unlink()
    lost = runner.invoke(app, ["verify", str(target)])
    assert lost.exit_code == 1 and f"missing: {chunk_key(3, 0)}" in lost.output


@pytest.mark.parametrize("fmt", [3, 2])
def test_store_without_manifest_fails_until_one_is_recorded(fmt, tmp_path) -> None:
    target = tmp_path / "f.nwb.zarr"
    write(target, fmt)
    (target / MANIFEST_KEY).unlink()
    report = verify(target)
    assert not report.ok and "no chunk manifest" in report.problems[0]
    record_manifest(target)
    assert verify(target).ok


@pytest.mark.parametrize("fmt", [3, 2])
def test_append_mode_rewrites_the_manifest(fmt, tmp_path) -> None:
    target = tmp_path / "f.nwb.zarr"
    write(target, fmt)
    with NWBZarrIO(target, mode="a") as io:
        nwb = io.read()
        nwb.add_acquisition(TimeSeries(name="late", data=ZarrDataIO(DATA, chunks=(25, 3)), unit="m", rate=1.0))
        io.write(nwb)
    assert manifest(target)["arrays"]["acquisition/late/data"] == {"grid": [4, 1], "chunks": "all"}
    assert verify(target).ok
    (target / "acquisition/late/data" / ("c/2/0" if fmt == 3 else "2.0")).unlink()
    assert verify(target).missing == [f"acquisition/late/data/{'c/2/0' if fmt == 3 else '2.0'}"]


def test_rows_appended_in_mode_a_are_recorded(tmp_path) -> None:
    target = tmp_path / "f.nwb.zarr"
    nwb = small_nwbfile()
    for i in range(3):
        nwb.add_trial(start_time=float(i), stop_time=i + 0.5)
    write(target, 3, nwb=nwb)
    grid_before = manifest(target)["arrays"]["intervals/trials/start_time"]["grid"]
    with NWBZarrIO(target, mode="a") as io:
        for i in range(3, 40):
            io.read().add_trial(start_time=float(i), stop_time=i + 0.5)
    with NWBZarrIO(target, mode="r") as io:
        assert len(io.read().trials) == 40
        stored = zarr.open_array(io.store, path="intervals/trials/start_time", mode="r")
    grid_after = manifest(target)["arrays"]["intervals/trials/start_time"]["grid"]
    assert (grid_after == [-(-40 // stored.chunks[0])] and grid_after != grid_before) or stored.chunks[0] >= 40
    assert verify(target).ok


def test_a_write_that_fails_leaves_the_previous_manifest(tmp_path) -> None:
    from hdmf.data_utils import DataChunkIterator

    def rows_then_failure():
        yield np.ones(3)
        raise RuntimeError("acquisition device unplugged")

    target = tmp_path / "f.nwb.zarr"
    write(target, 3)
    before = manifest(target)
    with NWBZarrIO(target, mode="a") as io:
        nwb = io.read()
        nwb.add_acquisition(TimeSeries(name="bad", data=DataChunkIterator(rows_then_failure()), unit="m", rate=1.0))
        with pytest.raises(RuntimeError, match="unplugged"):
            io.write(nwb)
    assert manifest(target) == before
    report = verify(target)
    assert report.problems == ["array /acquisition/bad/starting_time is not in the manifest (added after it was written?)"]


def test_export_leaves_a_manifest(tmp_path) -> None:
    write(tmp_path / "a.zarr", 3)
    with NWBZarrIO(tmp_path / "a.zarr", mode="r") as src, NWBZarrIO(tmp_path / "b.zarr", mode="w") as dst:
        dst.export(src_io=src)
    assert manifest(tmp_path / "b.zarr")["arrays"][SERIES] == {"grid": [10, 1], "chunks": "all"}
    assert verify(tmp_path / "b.zarr").ok


def test_parallel_write_records_every_chunk(tmp_path) -> None:
    from tests.parallel.iterators import ArrayIterator

    target = tmp_path / "f.nwb.zarr"
    data = np.arange(400 * 8, dtype="int32").reshape(400, 8) + 1
    nwb = small_nwbfile()
    nwb.add_acquisition(TimeSeries(name="par", unit="m", rate=1.0, data=ZarrDataIO(
        ArrayIterator(data, buffer_shape=(100, 8), chunk_shape=(50, 8)), chunks=(50, 8))))
    with NWBZarrIO(target, mode="w") as io:
        io.write(nwb, number_of_jobs=2, multiprocessing_context="fork")
    assert manifest(target)["arrays"]["acquisition/par/data"] == {"grid": [8, 1], "chunks": "all"}
    assert verify(target).ok


def test_convert_and_migrate_leave_a_manifest(tmp_path) -> None:
    from importlib import resources

    from nwbzarr.convert import convert
    from nwbzarr.migrate import migrate

    with resources.as_file(resources.files("nwbzarr") / "data" / "sample.nwb") as sample:
        convert(str(sample), str(tmp_path / "c.zarr"))
    assert verify(tmp_path / "c.zarr").ok
    assert migrate(tmp_path / "c.zarr", tmp_path / "m.zarr", "v2", progress=False).ok
    report = verify(tmp_path / "m.zarr")
    assert report.ok and report.arrays == verify(tmp_path / "c.zarr").arrays


@pytest.mark.parametrize("fmt", [3, 2])
@pytest.mark.parametrize("container", [ZipContainerStore, H5ContainerStore])
def test_container_consolidate_keeps_the_manifest_valid(container, fmt, tmp_path) -> None:
    store = container(tmp_path / "fz")
    write(store, fmt, checksums=True)
    store.consolidate()
    assert verify(store, checksums=True).ok
    assert store.verify().ok
    sync(store.delete(chunk_key(fmt, 7)))
    assert verify(store).missing == [chunk_key(fmt, 7)]


def test_dandi_checksum_matches_the_zarr_checksum_package(tmp_path) -> None:
    import zarr_checksum
    from zarr_checksum.generators import yield_files_local

    target = tmp_path / "f.nwb.zarr"
    write(target, 3, checksums=True)
    expected = zarr_checksum.compute_zarr_checksum(yield_files_local(target)).digest
    assert verify(target, checksums=True).zarr_checksum == expected


names = st.text(alphabet="abcAB_.-0129", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.lists(names, min_size=1, max_size=4).map("/".join),
                       st.tuples(st.binary(min_size=16, max_size=16).map(bytes.hex), st.integers(0, 10**9)),
                       min_size=0, max_size=12))
def test_dandi_checksum_of_any_tree_matches_the_package(files) -> None:
    import zarr_checksum
    from zarr_checksum.generators import ZarrArchiveFile

    paths = sorted(files)
    if any(b.startswith(a + "/") for a in paths for b in paths):  # a key cannot be both a file and a folder
        return
    generator = (ZarrArchiveFile(path=Path(k), size=s, digest=d) for k, (d, s) in files.items())
    assert dandi_zarr_checksum(files) == zarr_checksum.compute_zarr_checksum(generator).digest


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 4), max_size=3), st.sampled_from([("c", "/"), ("c", "."), ("", "."), ("", "/")]))
def test_chunk_keys_parse_back_to_their_index(grid, encoding) -> None:
    g = ChunkGrid(tuple(grid), *encoding)
    keys = g.all_keys()
    assert len(set(keys)) == g.count() == len(keys)
    assert sorted(g.parse(k) for k in keys) == sorted(np.ndindex(*grid))
    assert g.parse(g.key(tuple(grid))) is None if grid else True  # one past the grid's end


def test_verify_of_a_copy_with_a_lost_array(tmp_path) -> None:
    target = tmp_path / "f.nwb.zarr"
    write(target, 3)
    shutil.rmtree(target / "acquisition/big/data")
    report = verify(target)
    assert any("/acquisition/big/data is in the manifest but not in the store" in p for p in report.problems)


@pytest.mark.parametrize("fmt", [3, 2])
def test_manifest_from_the_write_plan_equals_a_listing(fmt, tmp_path) -> None:
    """Keys the write plan says it stored (single chunks, whole-array encodes) and the previous manifest's
    entries reused by an append are exactly what a full listing of the store finds."""
    from _nwb_factory import broad_nwbfile

    target = tmp_path / "f.nwb.zarr"
    nwb = broad_nwbfile()
    nwb.add_acquisition(TimeSeries(name="zeros", data=ZarrDataIO(np.zeros((40, 2)), chunks=(10, 2)), unit="m",
                                   rate=1.0))  # fill-valued chunks: stored or not, the manifest agrees
    write(target, fmt, nwb=nwb)
    with NWBZarrIO(target, mode="a") as io:
        back = io.read()
        back.add_acquisition(TimeSeries(name="late", data=DATA, unit="m", rate=1.0))
        io.write(back)
    from_plan = manifest(target)
    assert from_plan == record_manifest(target)
    assert "acquisition/late/data" in from_plan["arrays"] and verify(target).ok


@pytest.mark.parametrize("name", ["hdmf_zarr_0.13/sample.nwb.zarr", "hdmf_zarr_0.13/dci.nwb.zarr",
                                  "hdmf_zarr_0.14/sharded.nwb.zarr", "hdmf_zarr_0.14/anm.nwb.zarr"])
def test_stores_written_by_hdmf_zarr_get_a_manifest_and_verify(shared_data, tmp_path, name) -> None:
    target = tmp_path / "copy.nwb.zarr"
    shutil.copytree(shared_data / name, target)
    assert "no chunk manifest" in verify(target).problems[0]
    doc = record_manifest(target, checksums=True)
    assert verify(target, checksums=True).ok
    path, entry = next((p, e) for p, e in sorted(doc["arrays"].items()) if e["md5"])
    key = sorted(entry["md5"])[0]
    chunk = target / path / key
    chunk.write_bytes(chunk.read_bytes() + b"\0")
    assert verify(target, checksums=True).altered == [f"{path}/{key}"]
    chunk.unlink()
    assert verify(target).missing == [f"{path}/{key}"]
