"""Icechunk repositories as NWB stores: one transaction per IO, committed at close; killed writers
(SIGKILL, real processes) leave the previous snapshot; concurrent appenders rebase or get a conflict
error; earlier snapshots stay readable. Local repositories and S3 (moto server on loopback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import icechunk
import numpy as np
import pytest
from hdmf.data_utils import GenericDataChunkIterator
from pynwb import NWBFile, TimeSeries

from _helpers import assert_containers_equal
from nwbzarr import NWBZarrIO
from nwbzarr.storage.icechunk import encode_non_finite, restore_non_finite

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _nwbfile() -> NWBFile:
    nwb = NWBFile(session_description="icechunk", identifier="ic-1",
                  session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    nwb.add_acquisition(TimeSeries(name="first", data=np.arange(1000, dtype="i4"), unit="m", rate=10.0,
                                   resolution=float("nan")))
    return nwb


def _append(url: str, name: str, **kwargs) -> None:
    with NWBZarrIO(url, "a", **kwargs) as io:
        nwb = io.read()
        nwb.add_acquisition(TimeSeries(name=name, data=np.arange(10, dtype="f8"), unit="m", rate=1.0))
        io.write(nwb)


def _create(url: str, name: str) -> None:
    nwb = NWBFile(session_description="icechunk", identifier="ic-2",
                  session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    nwb.add_acquisition(TimeSeries(name=name, data=np.arange(5, dtype="f8"), unit="m", rate=1.0))
    with NWBZarrIO(url, "w") as io:
        io.write(nwb)


def _acquisition(url: str, mode: str = "r", **kwargs) -> list[str]:
    with NWBZarrIO(url, mode, **kwargs) as io:
        return sorted(io.read().acquisition)


def _history(path: Path) -> list[str]:
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(path)))
    return [s.id for s in repo.ancestry(branch="main")]


def test_write_append_and_read_earlier_snapshots(tmp_path) -> None:
    url = f"icechunk:///{tmp_path}/f.nwb.icechunk"
    original = _nwbfile()
    with NWBZarrIO(url, "w") as io:
        io.write(original)
    first = _history(tmp_path / "f.nwb.icechunk")
    _append(url, "second")
    history = _history(tmp_path / "f.nwb.icechunk")
    assert history[1:] == first  # the append is exactly one new snapshot on top of the write
    assert _acquisition(url) == ["first", "second"] == _acquisition(url, "r-")
    assert _acquisition(f"{url}?snapshot={first[0]}") == ["first"]
    assert _acquisition(url, storage_options={"snapshot": first[0]}) == ["first"]
    with NWBZarrIO(url, "r", storage_options={"snapshot": first[0]}) as io:
        assert_containers_equal(original, io.read())  # NaN attribute (resolution) read back as NaN


def test_repository_object_is_committed_at_close(tmp_path) -> None:
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(tmp_path / "r")))
    with NWBZarrIO(repo, "w") as io:
        io.write(_nwbfile())
    assert len(list(repo.ancestry(branch="main"))) == 2  # the repository's initial snapshot + this write
    with NWBZarrIO(repo, "r") as io:
        assert list(io.read().acquisition) == ["first"]


def test_own_session_is_left_for_the_caller_to_commit(tmp_path) -> None:
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(tmp_path / "r")))
    session = repo.writable_session("main")
    with NWBZarrIO(session, "w") as io:
        io.write(_nwbfile())
    assert session.has_uncommitted_changes and len(list(repo.ancestry(branch="main"))) == 1
    session.commit("by the caller")
    with NWBZarrIO(repo.readonly_session("main"), "r") as io:
        assert list(io.read().acquisition) == ["first"]


def test_failed_write_commits_nothing(tmp_path) -> None:
    url = f"icechunk:///{tmp_path}/f"
    with NWBZarrIO(url, "w") as io:
        io.write(_nwbfile())
    before = _history(tmp_path / "f")
    with pytest.raises(RuntimeError, match="boom"):
        with NWBZarrIO(url, "w") as io:  # mode w clears the store: must not be committed
            io.write(_nwbfile())
            raise RuntimeError("boom")
    assert _history(tmp_path / "f") == before
    assert _acquisition(url) == ["first"]


def test_legacy_layout_is_refused_clearly(tmp_path) -> None:
    url = f"icechunk:///{tmp_path}/f"
    _create(url, "kept")
    before = _history(tmp_path / "f")
    io = NWBZarrIO(url, "w", zarr_format=2)
    with pytest.raises(ValueError, match="holds only the Zarr v3 layout.*zarr_format=3"):
        io.write(_nwbfile())
    io.close()  # the failed write (which had cleared the file) is not committed
    assert _history(tmp_path / "f") == before
    assert _acquisition(url) == ["kept"]


def test_bad_urls_and_snapshots_name_the_problem(tmp_path) -> None:
    url = f"icechunk:///{tmp_path}/f"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        NWBZarrIO(url, "r", load_namespaces=False)
    _create(url, "x")
    with pytest.raises(ValueError, match="read-only points in history"):
        NWBZarrIO(f"{url}?snapshot={_history(tmp_path / 'f')[0]}", "a", load_namespaces=False)
    with pytest.raises(LookupError, match="has no snapshot"):
        NWBZarrIO(f"{url}?snapshot=0000000000000000000X", "r", load_namespaces=False)
    with pytest.raises(ValueError, match="unknown Icechunk option"):
        NWBZarrIO(f"{url}?colour=blue", "r", load_namespaces=False)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_attributes_round_trip_through_strict_json(value) -> None:
    doc = ('{"zarr_format":3,"node_type":"group","attributes":{"a":%s,"b":[1.0,%s],"c":"NaN"}}'
           % ((str(value).replace("nan", "NaN").replace("inf", "Infinity"),) * 2)).encode()
    stored = encode_non_finite(doc)
    import json

    json.loads(stored, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c} left"))
    back = json.loads(restore_non_finite(stored))["attributes"]
    assert back["c"] == "NaN"  # a string that was a string stays one
    for got in (back["a"], back["b"][1]):
        assert (np.isnan(got) and np.isnan(value)) or got == value


# ---------------------------------------------------------------------- killed writers (real processes)

_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from hdmf.data_utils import DataChunkIterator
    from pynwb import TimeSeries
    from nwbzarr import NWBZarrIO
    url, pause = sys.argv[1], float(sys.argv[2])

    def blocks():  # a slow source (an acquisition stream): 40 blocks, 'streaming' once 5 are out
        for i in range(40):
            if i == 5:
                print("streaming", flush=True)
            time.sleep(0.05)
            yield np.arange(i * 1000, (i + 1) * 1000, dtype="i4")

    io = NWBZarrIO(url, "a")
    print("opened", flush=True)
    nwb = io.read()
    nwb.add_acquisition(TimeSeries(name="big", data=DataChunkIterator(blocks(), buffer_size=1), unit="m",
                                   rate=1.0))
    io.write(nwb)
    print("written", flush=True)
    time.sleep(pause)
    io.close()
    print("committed", flush=True)
    time.sleep(60)
""")


def _start_writer(url: str, pause: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", _WRITER, url, str(pause)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)


def _wait_for(proc: subprocess.Popen, word: str) -> None:
    for line in proc.stdout:
        if line.strip() == word:
            return
    raise AssertionError(f"writer exited before {word!r}")


@pytest.mark.parametrize("moment", ["after open", "mid write", "written, before commit", "around commit",
                                    "after commit"])
def test_killed_writer_leaves_a_whole_snapshot(tmp_path, moment) -> None:
    path = tmp_path / "f"
    url = f"icechunk:///{path}"
    _create(url, "kept")
    before = _history(path)
    proc = _start_writer(url, pause={"written, before commit": 30.0}.get(moment, 0.0))
    try:
        if moment == "after open":
            _wait_for(proc, "opened")
        elif moment == "mid write":
            _wait_for(proc, "streaming")
        elif moment in ("written, before commit", "around commit"):
            _wait_for(proc, "written")
        else:
            _wait_for(proc, "committed")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    after = _history(path)
    if moment == "after commit":
        assert after[1:] == before and _acquisition(url) == ["big", "kept"]
    elif moment == "around commit":
        assert after in (before, after[:1] + before)  # either the old snapshot or the whole new one
    else:
        assert after == before and _acquisition(url) == ["kept"]
    names = _acquisition(url)
    if "big" in names:
        with NWBZarrIO(url, "r") as io:
            data = io.read().acquisition["big"].data[:]
        assert np.array_equal(data, np.arange(40_000, dtype="i4").reshape(40, 1000))  # DataChunkIterator stacks rows
    _append(url, "after")  # the repository takes new writes after the kill
    assert "after" in _acquisition(url)


# ---------------------------------------------------------------------- S3 (moto) and concurrent appenders

@pytest.fixture
def s3_url(s3_server, request) -> str:
    import boto3

    bucket = f"ic-{abs(hash(request.node.nodeid)) % 10**8}"
    boto3.client("s3", endpoint_url=s3_server["endpoint_url"]).create_bucket(Bucket=bucket)
    return f"icechunk+s3://{bucket}/f.nwb?endpoint_url={s3_server['endpoint_url']}&region=us-east-1"


def test_s3_write_append_and_snapshot(s3_url) -> None:
    original = _nwbfile()
    with NWBZarrIO(s3_url, "w") as io:
        io.write(original)
    with NWBZarrIO(s3_url, "r") as io:
        assert_containers_equal(original, io.read())
        first = io.store.session.snapshot_id
    _append(s3_url, "second")
    assert _acquisition(s3_url) == ["first", "second"]
    assert _acquisition(f"{s3_url}&snapshot={first}") == ["first"]


_APPENDER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from pynwb import TimeSeries
    from nwbzarr import NWBZarrIO
    url, name, go = sys.argv[1], sys.argv[2], sys.argv[3]
    io = NWBZarrIO(url, "a")
    nwb = io.read()
    nwb.add_acquisition(TimeSeries(name=name, data=np.arange(100, dtype="f8"), unit="m", rate=1.0))
    io.write(nwb)
    print("written", flush=True)
    while not os.path.exists(go):  # both appenders have written before either commits
        time.sleep(0.01)
    try:
        io.close()
        print("committed", flush=True)
    except Exception as err:
        print(type(err).__name__, str(err).replace(chr(10), " "), flush=True)
""")


def _run_appenders(url: str, names: list[str], go: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, url, name, str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env) for name in names]
    for proc in procs:
        _wait_for(proc, "written")
    go.touch()
    outcomes = [proc.stdout.read().strip().splitlines()[-1] for proc in procs]  # Icechunk logs above
    for proc in procs:
        assert proc.wait(60) == 0
    return outcomes


def test_concurrent_appenders_of_different_objects_both_land(s3_url, tmp_path) -> None:
    with NWBZarrIO(s3_url, "w") as io:
        io.write(_nwbfile())
    outcomes = _run_appenders(s3_url, ["a1", "a2"], tmp_path / "go")
    assert outcomes == ["committed", "committed"]  # the later commit rebased onto the earlier one
    assert _acquisition(s3_url) == ["a1", "a2", "first"] == _acquisition(s3_url, "r-")


def test_concurrent_appenders_of_the_same_object_conflict_clearly(s3_url, tmp_path) -> None:
    with NWBZarrIO(s3_url, "w") as io:
        io.write(_nwbfile())
    outcomes = sorted(_run_appenders(s3_url, ["same", "same"], tmp_path / "go"))
    assert outcomes[0].startswith("IcechunkConflictError icechunk+s3://") and outcomes[1] == "committed"
    assert "acquisition/same" in outcomes[0] and "nothing of this IO was committed" in outcomes[0]
    assert _acquisition(s3_url) == ["first", "same"]
    with NWBZarrIO(s3_url, "r") as io:
        assert np.array_equal(io.read().acquisition["same"].data[:], np.arange(100, dtype="f8"))


# ---------------------------------------------------------------------- other ZarrIO features on Icechunk

class _BlockIterator(GenericDataChunkIterator):
    def __init__(self, array: np.ndarray, **kwargs) -> None:
        self.array = array
        super().__init__(**kwargs)

    def _get_data(self, selection):
        return self.array[selection]

    def _get_maxshape(self):
        return self.array.shape

    def _get_dtype(self):
        return self.array.dtype


@pytest.mark.parametrize("jobs", [1, 2])
def test_block_iterator_write_with_and_without_jobs(tmp_path, jobs) -> None:
    """A writable session is one process's: number_of_jobs=2 warns and writes serially in this process."""
    url = f"icechunk:///{tmp_path}/f"
    data = np.arange(200_000, dtype="i4").reshape(2000, 100)
    nwb = _nwbfile()
    nwb.add_acquisition(TimeSeries(name="blocks", data=_BlockIterator(data, chunk_shape=(100, 100),
                                                                      buffer_shape=(500, 100)), unit="m", rate=1.0))
    with NWBZarrIO(url, "w") as io:
        if jobs == 1:
            io.write(nwb)
        else:
            with pytest.warns(UserWarning, match="IcechunkNWBStore cannot be written by several processes"):
                io.write(nwb, number_of_jobs=jobs)
    assert len(_history(tmp_path / "f")) == 2
    with NWBZarrIO(url, "r") as io:
        assert np.array_equal(io.read().acquisition["blocks"].data[:], data)


def test_export_into_icechunk(tmp_path) -> None:
    original = _nwbfile()
    with NWBZarrIO(str(tmp_path / "src.nwb.zarr"), "w") as io:
        io.write(original)
    url = f"icechunk:///{tmp_path}/dst"
    with NWBZarrIO(str(tmp_path / "src.nwb.zarr"), "r") as src, NWBZarrIO(url, "w") as dst:
        dst.export(src_io=src)
    with NWBZarrIO(url, "r") as io:
        assert_containers_equal(original, io.read())


def _icechunk_round_trip(root):
    """tests/backend/test_builders_hypothesis.py's round trip, through a fresh Icechunk repository."""
    import tempfile

    from nwbzarr import ZarrIO

    url = f"icechunk:///{tempfile.mkdtemp(prefix='nwbzarr-ic-hyp-')}/f"
    with ZarrIO(url, mode="w") as io:
        io.write_builder(root, cache_spec=False)
    return ZarrIO(url, mode="r").read_builder()


@pytest.mark.parametrize("case", ["test_numeric_datasets_round_trip", "test_text_datasets_round_trip",
                                  "test_names_round_trip_verbatim", "test_attributes_round_trip",
                                  "test_numpy_attribute_types_round_trip", "test_empty_and_scalar_datasets",
                                  "test_compound_with_text_and_references"])
def test_builder_round_trips_on_icechunk(case, monkeypatch) -> None:
    """The generated builder round trips (dtypes, shapes, names, NaN/inf attributes, compounds) on Icechunk."""
    from tests.backend import test_builders_hypothesis as generated

    monkeypatch.setattr(generated, "_round_trip", _icechunk_round_trip)
    getattr(generated, case)()


def test_convert_a_real_hdf5_file_into_icechunk(shared_data, tmp_path) -> None:
    from pynwb import NWBHDF5IO

    from nwbzarr.convert import convert

    source = shared_data / "hdf5" / "anm.nwb"
    url = f"icechunk:///{tmp_path}/anm.nwb.icechunk"
    convert(str(source), url)
    assert len(_history(tmp_path / "anm.nwb.icechunk")) == 2  # the conversion is one snapshot
    with NWBHDF5IO(str(source), "r") as h5, NWBZarrIO(url, "r") as io:
        assert_containers_equal(h5.read(), io.read())


def test_no_chunk_manifest_in_a_repository_and_verify_says_why(tmp_path) -> None:
    """Icechunk accepts Zarr keys only: nwbzarr's manifest sidecar is not written, and verify() says so."""
    from hdmf.backends.errors import UnsupportedOperation
    from zarr.core.sync import sync

    url = f"icechunk:///{tmp_path}/f.nwb.icechunk"
    with NWBZarrIO(url, "w") as io:
        io.write(_nwbfile())
    with NWBZarrIO(url, "r") as io:
        keys = sync(_all_keys(io.store))
        assert "zarr.json" in keys and "nwbzarr_manifest.json" not in keys
        with pytest.raises(UnsupportedOperation, match="no chunk manifest"):
            io.verify()


async def _all_keys(store) -> list[str]:
    return [key async for key in store.list()]
