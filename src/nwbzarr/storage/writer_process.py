"""Creating a local store's files from a child process, so that they are written while this process goes
on with Python work (issue 17).

A thread cannot do this: every system call of a file-creating thread takes the GIL back from the
planning thread, and the hand-overs cost more than the overlap gains (a W2 write: 1.25-1.4 s with a
writer thread, 1.0-1.3 s without). The child (``_child_writer``) imports only the standard library and
creates the files with the same calls as ``_files.write_new_name``. Values reach it through a spool file
in the temporary folder, and only their batches' lengths through its stdin: a pipe holds 64 KiB, so
values sent through it made this process wait for the child at every batch (W2's ``write_builder``:
0.85-0.92 s so, 0.62-0.66 s with a 1 MiB pipe, which only Linux's ``fcntl`` can ask for). The spool also
holds everything the child was given, to be stored again from here if the child is lost.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from nwbzarr.errors import HelperProcessLost
from nwbzarr.storage._child_writer import HEADER, NOTICE, frames, read_exactly
from nwbzarr.storage._files import write_all

__all__ = ["WriterProcess", "start_writer_process"]

CHILD_SCRIPT = str(Path(__file__).with_name("_child_writer.py"))
SPOOL_PREFIX = "nwbzarr-write-"


class WriterProcess:
    """One child process that creates files under ``root`` from ``(key, value)`` pairs, in the order sent."""

    def __init__(self, root: str, process: subprocess.Popen, spool: BinaryIO, spool_path: str) -> None:
        self.root = root
        self._process = process
        self._spool = spool
        self._spool_path = spool_path
        self._announced = 0  # bytes of the spool the child was told of
        self._error: OSError | bool | None = None  # None: running; False: ended well; else its error
        self._remove_spool = weakref.finalize(self, _remove_spool, spool, spool_path)  # at discard() at the latest

    def write(self, items: Sequence[tuple[str, Any]]) -> None:
        """Hand values to the child (never waiting for it); raises the child's error once it has stopped on
        one, and ``HelperProcessLost`` when it has ended otherwise or the spool cannot be written."""
        data = _frames(items)
        try:
            write_all(self._spool, data)
        except OSError as exc:
            self._stop_quietly()
            raise HelperProcessLost(f"the spool file of the process writing {self.root!r} could not be written "
                                    f"({self._spool_path!r}: {exc.strerror or exc})") from exc
        try:
            self._process.stdin.write(NOTICE.pack(len(data)))
            self._process.stdin.flush()  # to the child now
        except BrokenPipeError:
            self.close()  # raises the child's error
            raise HelperProcessLost(f"the process writing {self.root!r} stopped early") from None
        self._announced += len(data)

    def handed_over(self) -> list[tuple[str, bytes]]:
        """Every ``(key, value)`` the child was given, read back from the spool (after the child ended), so
        that a lost child's work can be done again."""
        self._spool.seek(0)
        block = read_exactly(self._spool, self._announced) if self._announced else bytearray()
        return [(key, bytes(value)) for key, value in frames(block or bytearray())]

    def close(self) -> None:
        """Wait until the child has written everything sent. Raises the file system's error it stopped on
        (an ``OSError`` naming the key), or ``HelperProcessLost``; again at every later call."""
        if self._error is None:
            self._error = self._wait()
        if self._error:
            raise self._error

    def discard(self) -> None:
        """Remove the spool (once the child has ended and nothing more is read back from it); an object
        dropped without this call removes it when it is collected."""
        self._remove_spool()

    def _stop_quietly(self) -> None:
        with contextlib.suppress(OSError, HelperProcessLost):
            self.close()

    def _wait(self) -> OSError | bool:
        out, err = self._process.communicate()  # closes its input; reads both pipes, so neither can fill up
        status = self._process.returncode
        report, crash = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")  # crash: a bug of ours
        return _child_error(self.root, status, report or crash) if status != 0 else False


def _remove_spool(spool: BinaryIO, path: str) -> None:
    spool.close()
    with contextlib.suppress(OSError):
        os.unlink(path)


def _frames(items: Sequence[tuple[str, Any]]) -> bytes:
    parts = []
    for key, value in items:
        data = value.as_buffer_like() if hasattr(value, "as_buffer_like") else value
        raw = key.encode("utf-8")
        parts += [HEADER.pack(len(raw), memoryview(data).nbytes), raw, data]
    return b"".join(parts)


def _child_error(root: str, status: int, report: str) -> OSError | HelperProcessLost:
    lines = report.strip().splitlines()
    line = lines[0] if report.startswith(tuple("0123456789")) else (lines[-1] if lines else "")
    parts = line.split("\t", 2)
    if status == 1 and len(parts) == 3 and parts[0].isdigit():
        errno, key, message = int(parts[0]), parts[1], parts[2]
        return OSError(errno or None, f"storing {key!r} in {root!r} failed: {message}", os.path.join(root, key))
    return HelperProcessLost(f"the process writing {root!r} ended with status {status}" + (f": {line}" if line else ""))


def start_writer_process(root: str) -> WriterProcess | None:
    """A child process creating files under ``root``, or None where none can be started (no interpreter
    to run, a sandbox refusing new processes, no temporary folder to spool through): the caller then
    writes the files itself."""
    if not _is_python(sys.executable) or not os.path.isfile(CHILD_SCRIPT):
        return None
    try:
        fd, spool_path = tempfile.mkstemp(prefix=SPOOL_PREFIX, suffix=".spool")
    except OSError:
        return None
    spool = os.fdopen(fd, "w+b", buffering=0)
    try:
        process = subprocess.Popen(  # our own script, run by this interpreter, no shell
            [sys.executable, "-I", "-S", CHILD_SCRIPT, root, spool_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
            start_new_session=os.name == "posix",  # Ctrl-C at a terminal stops the parent, which decides
        )
    except OSError:
        spool.close()
        os.unlink(spool_path)
        return None
    return WriterProcess(root, process, spool, spool_path)


def _is_python(executable: str | None) -> bool:
    """Whether ``executable`` is a Python interpreter's program (an application embedding Python, such as a
    server or a 3-D modeller, sets ``sys.executable`` to its own program, which must not be run)."""
    if not executable or not os.path.isfile(executable):
        return False
    name = os.path.basename(executable).lower()
    return name.startswith(("python", "pypy"))
