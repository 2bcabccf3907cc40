"""Per-container locks of the few-files stores across processes (portalocker lock files, no fcntl):
readers share a container, a writer excludes readers and writers, a killed holder frees it, and a forked
child does not keep its parent's lock alive."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest

from nwbzarr.storage import _container_locks as cl
from nwbzarr.storage._container_locks import LOCK_DIR_NAME, ContainerLocks

POSIX_ONLY = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork and SIGKILL are POSIX's")


def _hold(root: str, container: str, shared: bool, held, release) -> None:
    """Child: hold ``container``, say so, wait until told to let go."""
    with ContainerLocks(Path(root), "file", writable=True).hold(container, shared=shared):
        held.set()
        release.wait(60)


def _hold_and_fork(root: str, container: str, held, child_pid) -> None:
    """Child: hold ``container`` exclusively, fork a grandchild that outlives us, then wait to be killed."""
    with ContainerLocks(Path(root), "file", writable=True).hold(container):
        pid = os.fork()
        if pid == 0:  # the grandchild: sleeps with a copy of every descriptor its parent had at fork
            time.sleep(60)
            os._exit(0)
        child_pid.value = pid
        held.set()
        time.sleep(60)


def _attempt(root: str, container: str, shared: bool, writable: bool, got) -> None:
    with ContainerLocks(Path(root), "file", writable=writable).hold(container, shared=shared):
        got.set()


def _takes(root: str | Path, container: str, shared: bool, within: float, writable: bool = True) -> bool:
    """Whether a new process gets ``container`` within ``within`` seconds."""
    ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
    got = ctx.Event()
    proc = ctx.Process(target=_attempt, args=(str(root), container, shared, writable, got))
    proc.start()
    try:
        return got.wait(within)
    finally:
        proc.kill()
        proc.join(30)


def _start_holder(tmp_path: Path, shared: bool, container: str = "a/c.h5"):
    ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
    held, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(tmp_path), container, shared, held, release))
    proc.start()
    assert held.wait(60), "the holder never got the lock"
    return proc, release


def test_a_writer_in_another_process_excludes_readers_and_writers_until_it_lets_go(tmp_path: Path) -> None:
    proc, release = _start_holder(tmp_path, shared=False)
    try:
        assert not _takes(str(tmp_path), "a/c.h5", shared=True, within=0.5)
        assert not _takes(str(tmp_path), "a/c.h5", shared=False, within=0.5)
        assert cl._slot("b/c.h5") != cl._slot("a/c.h5")
        assert _takes(str(tmp_path), "b/c.h5", shared=False, within=30)  # another container: no wait
    finally:
        release.set()
        proc.join(30)
    assert proc.exitcode == 0
    assert _takes(str(tmp_path), "a/c.h5", shared=False, within=30)


def test_readers_in_two_processes_share_a_container_and_keep_a_writer_out(tmp_path: Path) -> None:
    proc, release = _start_holder(tmp_path, shared=True)
    try:
        assert _takes(str(tmp_path), "a/c.h5", shared=True, within=30)
        assert not _takes(str(tmp_path), "a/c.h5", shared=False, within=0.5)
    finally:
        release.set()
        proc.join(30)


@POSIX_ONLY
def test_a_killed_holder_frees_the_container_even_when_its_forked_child_lives_on(tmp_path: Path) -> None:
    ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
    held, child_pid = ctx.Event(), ctx.Value("i", 0)
    proc = ctx.Process(target=_hold_and_fork, args=(str(tmp_path), "a/c.h5", held, child_pid))
    proc.start()
    try:
        assert held.wait(60)
        assert not _takes(str(tmp_path), "a/c.h5", shared=False, within=0.5)
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30  # not join(): the grandchild holds a copy of the exit sentinel
        while proc.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not proc.is_alive()
        assert _takes(str(tmp_path), "a/c.h5", shared=False, within=30), "the forked child kept the lock"
    finally:
        if child_pid.value:
            os.kill(child_pid.value, signal.SIGKILL)
        if proc.is_alive():
            proc.kill()


def test_a_read_only_store_creates_no_lock_files_and_locks_once_a_writer_has(tmp_path: Path) -> None:
    reader = ContainerLocks(tmp_path, "file", writable=False)
    with reader.hold("a/c.h5", shared=True):
        pass
    assert not (tmp_path / LOCK_DIR_NAME).exists()
    proc, release = _start_holder(tmp_path, shared=False)
    try:
        # the writer's lock file exists now: a reader waits for it
        assert not _takes(tmp_path, "a/c.h5", shared=True, within=0.5, writable=False)
    finally:
        release.set()
        proc.join(30)
    assert _takes(tmp_path, "a/c.h5", shared=True, within=30, writable=False)
    assert sorted(p.name for p in (tmp_path / LOCK_DIR_NAME).iterdir()) == [f"{cl._slot('a/c.h5')}.lock"]


def test_the_package_imports_no_fcntl_of_its_own() -> None:
    """Locks go through portalocker and filelock: no module of nwbzarr names fcntl."""
    src = Path(cl.__file__).resolve().parents[1]
    users = [p.relative_to(src).as_posix() for p in src.rglob("*.py") if "import fcntl" in p.read_text()]
    assert users == []
