"""Streaming a fresh store's keys while the write is planned (``writing.stream``): the files are those of a
write that does not stream, and a write that fails leaves the store as it was."""

from __future__ import annotations

import os
import sys
import textwrap

import numpy as np
import pytest
from hdmf.build import DatasetBuilder, GroupBuilder
from zarr.storage import LocalStore

from nwbzarr import ZarrIO
from nwbzarr.format.names import InvalidNameError
from nwbzarr.storage import writer_process
from nwbzarr.writing import stream
from nwbzarr.writing.stream import KeyStream, open_stream


def _files(root):
    return {str(p.relative_to(root)).replace(os.sep, "/"): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _folders(root):
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir()}


def _tree(n_groups: int, bad_last: bool = False) -> GroupBuilder:
    root = GroupBuilder("root", attributes={"note": "streamed"})
    for i in range(n_groups):
        group = GroupBuilder(f"g{i:04d}", attributes={"i": i})
        group.set_dataset(DatasetBuilder("data", data=np.arange(i % 50, dtype="f8"), attributes={"unit": "m"}))
        group.set_dataset(DatasetBuilder("label", data=f"text {i}"))
        root.set_group(group)
    if bad_last:
        last = GroupBuilder("zz_last")
        last.set_dataset(DatasetBuilder("bad/name", data=[1.0]))
        root.set_group(last)
    return root


@pytest.fixture
def stream_early(monkeypatch):
    """Start the child process after a few keys, so that small test trees stream."""
    monkeypatch.setattr(stream, "STREAM_AFTER", 8)


def _local(tmp_path, name="s.zarr") -> LocalStore:
    (tmp_path / name).mkdir()
    return LocalStore(str(tmp_path / name))


def test_a_few_keys_are_stored_at_the_end_without_a_child(tmp_path):
    keys = open_stream(_local(tmp_path))
    keys.put([("a/zarr.json", b"{}"), ("a/c/0", b"\x01")])
    assert not keys.streaming and not (tmp_path / "s.zarr" / "a").exists()
    keys.finish()
    assert _files(tmp_path / "s.zarr") == {"a/zarr.json": b"{}", "a/c/0": b"\x01"}


def test_many_keys_are_stored_by_a_child_as_they_come(tmp_path, stream_early):
    keys = open_stream(_local(tmp_path))
    items = [(f"n{i}/zarr.json", str(i).encode()) for i in range(stream.STREAM_BATCH + 20)]
    keys.put(items)
    assert keys.streaming
    keys.finish()
    assert _files(tmp_path / "s.zarr") == dict(items)


def test_abort_removes_the_keys_and_the_folders_they_made_only(tmp_path, stream_early):
    store_root = tmp_path / "s.zarr"
    keys = open_stream(_local(tmp_path))
    (store_root / "kept").mkdir()
    (store_root / "kept" / "old").write_bytes(b"old")
    (store_root / "empty_before").mkdir()
    keys.put([(f"kept/new{i}/x", b"1") for i in range(300)] + [("deep/a/b/c", b"2")])
    keys.abort()
    assert _files(store_root) == {"kept/old": b"old"}
    assert _folders(store_root) == {"kept", "empty_before"}


def test_only_writable_local_directories_stream(tmp_path):
    from zarr.storage import MemoryStore

    assert open_stream(MemoryStore()) is None
    (tmp_path / "ro").mkdir()
    assert open_stream(LocalStore(str(tmp_path / "ro"), read_only=True)) is None
    assert isinstance(open_stream(_local(tmp_path)), KeyStream)


def test_a_streamed_write_stores_the_same_bytes_as_one_that_is_not(tmp_path, monkeypatch):
    paths = {}
    for label, after in (("plain", 10**9), ("streamed", 8)):
        monkeypatch.setattr(stream, "STREAM_AFTER", after)
        paths[label] = tmp_path / f"{label}.zarr"
        with ZarrIO(paths[label], mode="w") as io:
            io.write_builder(_tree(150))
    plain, streamed = _files(paths["plain"]), _files(paths["streamed"])
    assert len(plain) > 450 and plain == streamed
    with ZarrIO(paths["streamed"], mode="r") as io:
        root = io.read_builder()
        assert list(root.groups["g0049"].datasets["data"].data[:]) == list(np.arange(49.0))
        assert root.groups["g0007"].attributes["i"] == 7


def test_a_failed_plan_leaves_a_fresh_store_empty(tmp_path, stream_early):
    path = tmp_path / "bad.zarr"
    with ZarrIO(path, mode="w") as io:
        before = _files(path), _folders(path)
        with pytest.raises(InvalidNameError, match="bad/name"):
            io.write_builder(_tree(150, bad_last=True))
        assert (_files(path), _folders(path)) == before
        io.write_builder(_tree(20))  # the same IO writes again, streaming again
    with ZarrIO(path, mode="r") as io:
        assert sorted(io.read_builder().groups) == [f"g{i:04d}" for i in range(20)]


def test_appends_never_stream(tmp_path, stream_early, monkeypatch):
    """Mode ``a`` writes into a store with content: a streamed key could replace one that existed."""
    path = tmp_path / "a.zarr"
    with ZarrIO(path, mode="w") as io:
        io.write_builder(_tree(3))
    before = _files(path)
    monkeypatch.setattr(stream, "start_writer_process", lambda root: pytest.fail("an append streamed"))
    with ZarrIO(path, mode="a") as io:
        tree = io.read_builder()
        tree.set_group(_tree(150, bad_last=True).groups["zz_last"])
        for i in range(100, 150):
            group = GroupBuilder(f"new{i}")
            group.set_dataset(DatasetBuilder("d", data=[float(i)]))
            tree.set_group(group)
        with pytest.raises(InvalidNameError):
            io.write_builder(tree)
    assert _files(path) == before


def test_a_child_that_fails_fails_the_write_and_leaves_nothing(tmp_path, stream_early, monkeypatch):
    fake = tmp_path / "full_disk_child.py"
    fake.write_text(textwrap.dedent("""
        import sys
        sys.stdin.buffer.read(100)
        print("28\\tg0003/data/zarr.json\\tNo space left on device", flush=True)
        sys.exit(1)
    """))
    monkeypatch.setattr(writer_process, "CHILD_SCRIPT", str(fake))
    from nwbzarr import ZarrDataIO

    tree = _tree(150)  # its text arrays and this one are stored after planning, by this process
    tree.set_dataset(DatasetBuilder("chunked", data=ZarrDataIO(np.arange(100_000.0), chunks=(10_000,))))
    path = tmp_path / "f.zarr"
    with ZarrIO(path, mode="w") as io:
        before = _files(path), _folders(path)
        with pytest.raises(OSError, match="g0003/data/zarr.json.*No space left") as info:
            io.write_builder(tree)
        assert info.value.errno == 28
        assert (_files(path), _folders(path)) == before


def test_without_a_child_the_write_stores_everything_itself(tmp_path, stream_early, monkeypatch):
    monkeypatch.setattr(sys, "executable", "")
    path = tmp_path / "n.zarr"
    with ZarrIO(path, mode="w") as io:
        io.write_builder(_tree(150))
    with ZarrIO(path, mode="r") as io:
        assert len(io.read_builder().groups) == 150


def test_a_lost_child_is_replaced_by_this_process(tmp_path, stream_early, monkeypatch):
    """A child that ends without a file system error (killed, crashed) costs only speed: everything it was
    given is stored again from this process, with a warning that says so."""
    fake = tmp_path / "crashing_child.py"
    fake.write_text("import sys\nsys.stdin.buffer.read(5000)\nsys.exit(3)\n")
    monkeypatch.setattr(writer_process, "CHILD_SCRIPT", str(fake))
    path = tmp_path / "lost.zarr"
    with pytest.warns(RuntimeWarning, match="ended with status 3.*from this process"):
        with ZarrIO(path, mode="w") as io:
            io.write_builder(_tree(150))
    monkeypatch.setattr(stream, "STREAM_AFTER", 10**9)
    with ZarrIO(tmp_path / "plain.zarr", mode="w") as io:
        io.write_builder(_tree(150))
    assert _files(path) == _files(tmp_path / "plain.zarr")


def test_a_program_that_is_not_python_is_never_run(tmp_path, monkeypatch):
    """Applications that embed Python set ``sys.executable`` to their own program."""
    program = tmp_path / "blender"
    program.write_text("#!/bin/sh\nsleep 1000\n")
    program.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(program))
    assert writer_process.start_writer_process(str(tmp_path)) is None


def test_a_write_failing_after_its_plan_waits_for_the_child(tmp_path, stream_early, monkeypatch):
    """Data that fails while it is written (after planning): the error is the data's, and the child has
    ended before it is raised (no process left writing into the store)."""
    from hdmf.data_utils import DataChunkIterator

    children = []
    start = stream.start_writer_process
    monkeypatch.setattr(stream, "start_writer_process", lambda root: children.append(start(root)) or children[-1])

    def rows():
        yield np.zeros(4)
        raise RuntimeError("the acquisition board went away")

    tree = _tree(150)
    tree.groups["g0001"].set_dataset(DatasetBuilder("live", data=DataChunkIterator(rows(), maxshape=(None, 4))))
    with ZarrIO(tmp_path / "x.zarr", mode="w") as io:
        with pytest.raises(Exception, match="acquisition board went away"):
            io.write_builder(tree)
    assert len(children) == 1 and children[0]._process.poll() is not None


def test_a_spool_that_fills_up_costs_only_speed(tmp_path, stream_early, monkeypatch):
    """The temporary folder full mid-write: a warning names the spool, and the file is the same."""
    start = stream.start_writer_process
    handles = []

    def start_then_fill(root):
        child = start(root)
        handles.append(open(child._spool_path, "rb", buffering=0))  # noqa: SIM115 (closed below)
        child._spool = handles[-1]  # refuses the next write, as a full disk would
        return child

    monkeypatch.setattr(stream, "start_writer_process", start_then_fill)
    with pytest.warns(RuntimeWarning, match="spool file"):
        with ZarrIO(tmp_path / "full.zarr", mode="w") as io:
            io.write_builder(_tree(150))
    for handle in handles:
        handle.close()
    monkeypatch.setattr(stream, "STREAM_AFTER", 10**9)
    with ZarrIO(tmp_path / "plain.zarr", mode="w") as io:
        io.write_builder(_tree(150))
    assert _files(tmp_path / "full.zarr") == _files(tmp_path / "plain.zarr")
