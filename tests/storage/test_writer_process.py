"""The child process that creates a local store's files (``storage.writer_process``): real processes,
real files."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from nwbzarr.errors import HelperProcessLost
from nwbzarr.storage import writer_process
from nwbzarr.storage.writer_process import start_writer_process


def _files(root):
    return {str(p.relative_to(root)).replace(os.sep, "/"): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_child_creates_every_file_with_its_bytes(tmp_path):
    child = start_writer_process(str(tmp_path))
    assert child is not None
    items = [(f"g{i}/a{i % 7}/zarr.json", f"doc {i}".encode() * (i % 5 + 1)) for i in range(600)]
    items.append(("big/c/0", bytes(range(256)) * 9000))  # more than the pipe holds at once
    items.append(("empty", b""))
    child.write(items[:300])
    child.write(items[300:])
    child.close()
    assert _files(tmp_path) == dict(items)


def test_a_key_sent_twice_keeps_the_last_value(tmp_path):
    child = start_writer_process(str(tmp_path))
    child.write([("a/zarr.json", b"first"), ("a/zarr.json", b"second")])
    child.close()
    assert _files(tmp_path) == {"a/zarr.json": b"second"}


def test_the_childs_error_names_the_key_and_stops_it(tmp_path):
    (tmp_path / "blocker").write_bytes(b"a file where a folder is needed")
    child = start_writer_process(str(tmp_path))
    child.write([("ok/zarr.json", b"1"), ("blocker/x/zarr.json", b"2"), ("after/zarr.json", b"3")])
    with pytest.raises(OSError, match=r"'blocker/x/zarr.json'.*failed") as info:
        child.close()
    assert info.value.filename == os.path.join(str(tmp_path), "blocker/x/zarr.json")
    assert not (tmp_path / "after").exists()  # nothing after the first error


def test_writing_after_the_child_stopped_raises_its_error(tmp_path):
    (tmp_path / "blocker").write_bytes(b"x")
    child = start_writer_process(str(tmp_path))
    child.write([("blocker/x", b"2")])
    child._process.wait()  # it has stopped on the error; what follows finds the pipe closed
    big = [(f"k{i}", b"v" * 4096) for i in range(600)]
    with pytest.raises(OSError, match="blocker/x"):
        for _ in range(4):
            child.write(big)
        child.close()


@pytest.mark.skipif(sys.platform == "win32", reason="signals")
def test_a_killed_child_is_reported_with_its_status(tmp_path):
    child = start_writer_process(str(tmp_path))
    child._process.send_signal(signal.SIGKILL)
    child._process.wait()
    with pytest.raises(HelperProcessLost, match=r"ended with status -9"):
        child.write([(f"k{i}", b"v" * 4096) for i in range(600)])
        child.close()


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and signals")
def test_an_interrupt_is_the_parents_to_handle(tmp_path):
    """Ctrl-C reaches a terminal's foreground process group: not the child's (its own session), and a
    SIGINT sent to the child itself is ignored. The parent decides, by closing the pipe."""
    child = start_writer_process(str(tmp_path))
    assert os.getpgid(child._process.pid) != os.getpgid(0)
    child.write([("a", b"1")])
    deadline = time.monotonic() + 10
    while not (tmp_path / "a").exists() and time.monotonic() < deadline:  # the child is running its loop
        time.sleep(0.01)
    child._process.send_signal(signal.SIGINT)
    child.write([("b", b"2")])
    child.close()
    assert _files(tmp_path) == {"a": b"1", "b": b"2"}


def test_a_frame_or_batch_cut_short_is_dropped(tmp_path):
    """The parent stopped mid-way: a frame that ends past its batch, or a batch announced past the end of the
    spool, is not stored (nor is a huge announced length ever allocated)."""
    child = start_writer_process(str(tmp_path))
    child.write([("whole", b"1")])
    cut = writer_process.HEADER.pack(3, 10) + b"abc" + b"12345"  # 5 of 10 bytes
    child._spool.write(cut)
    child._process.stdin.write(writer_process.NOTICE.pack(len(cut)))
    child._process.stdin.write(writer_process.NOTICE.pack(1 << 60))
    child.close()
    assert _files(tmp_path) == {"whole": b"1"}


def test_the_spool_is_private_and_removed_at_the_end(tmp_path):
    child = start_writer_process(str(tmp_path / "store"))
    spool = child._spool_path
    assert os.path.basename(spool).startswith(writer_process.SPOOL_PREFIX)
    if os.name == "posix":
        assert os.stat(spool).st_mode & 0o077 == 0  # values of the user's file: for the user only
    child.write([("a", b"1")])
    child.close()
    assert child.handed_over() == [("a", b"1")]
    child.discard()
    assert not os.path.exists(spool)


def test_no_interpreter_means_no_child(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", "")
    assert start_writer_process(str(tmp_path)) is None
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    assert start_writer_process(str(tmp_path)) is None


def test_a_spool_that_cannot_be_written_loses_the_child_not_the_values(tmp_path):
    """The temporary folder full (here: the spool's handle refuses writes): the child is stopped and reported
    lost, and what it was handed before can still be read back."""
    child = start_writer_process(str(tmp_path / "store"))
    child.write([("a", b"1")])
    with open(child._spool_path, "rb", buffering=0) as read_only:
        child._spool = read_only
        with pytest.raises(HelperProcessLost, match="spool file"):
            child.write([("b", b"2")])
        assert child.handed_over() == [("a", b"1")]
    assert child._process.returncode == 0  # ended, having stored what it was told of
    assert _files(tmp_path / "store") == {"a": b"1"}


def test_no_temporary_folder_means_no_child(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    assert start_writer_process(str(tmp_path)) is None
