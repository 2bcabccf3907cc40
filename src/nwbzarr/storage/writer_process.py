"""Creating a local store's files from a child process, so that they are written while this process goes
on with Python work (issue 17).

A thread cannot do this: every system call of a file-creating thread takes the GIL back from the
planning thread, and the hand-overs cost more than the overlap gains (a W2 write: 1.25-1.4 s with a
writer thread, 1.0-1.3 s without). The child (``_child_writer``) imports only the standard library and
creates the files with the same calls as ``_files.write_new_name``; values reach it through a pipe.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nwbzarr.errors import HelperProcessLost
from nwbzarr.storage._child_writer import HEADER

__all__ = ["WriterProcess", "start_writer_process"]

CHILD_SCRIPT = str(Path(__file__).with_name("_child_writer.py"))
PIPE_BYTES = 1 << 20  # the parent's buffer: one pipe write per batch of frames


class WriterProcess:
    """One child process that creates files under ``root`` from ``(key, value)`` pairs, in the order sent."""

    def __init__(self, root: str, process: subprocess.Popen) -> None:
        self.root = root
        self._process = process
        self._error: OSError | bool | None = None  # None: running; False: ended well; else its error

    def write(self, items: Sequence[tuple[str, Any]]) -> None:
        """Send values to the child (blocking only while the pipe is full); raises the child's error once
        it has stopped on one."""
        frames = []
        for key, value in items:
            data = value.as_buffer_like() if hasattr(value, "as_buffer_like") else value
            raw = key.encode("utf-8")
            frames += [HEADER.pack(len(raw), memoryview(data).nbytes), raw, data]
        try:
            self._process.stdin.write(b"".join(frames))
            self._process.stdin.flush()  # to the child now, not once the buffer is full
        except BrokenPipeError:
            self.close()  # raises the child's error
            raise HelperProcessLost(f"the process writing {self.root!r} stopped early") from None

    def close(self) -> None:
        """Wait until the child has written everything sent. Raises the file system's error it stopped on
        (an ``OSError`` naming the key), or ``HelperProcessLost``; again at every later call."""
        if self._error is None:
            self._error = self._wait()
        if self._error:
            raise self._error

    def _wait(self) -> OSError | bool:
        out, err = self._process.communicate()  # closes its input; reads both pipes, so neither can fill up
        status = self._process.returncode
        report, crash = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")  # crash: a bug of ours
        return _child_error(self.root, status, report or crash) if status != 0 else False


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
    to run, a sandbox refusing new processes): the caller then writes the files itself."""
    if not _is_python(sys.executable) or not os.path.isfile(CHILD_SCRIPT):
        return None
    try:
        process = subprocess.Popen(  # our own script, run by this interpreter, no shell
            [sys.executable, "-I", "-S", CHILD_SCRIPT, root],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            bufsize=PIPE_BYTES, close_fds=True,
            start_new_session=os.name == "posix",  # Ctrl-C at a terminal stops the parent, which decides
        )
    except OSError:
        return None
    return WriterProcess(root, process)


def _is_python(executable: str | None) -> bool:
    """Whether ``executable`` is a Python interpreter's program (an application embedding Python, such as a
    server or a 3-D modeller, sets ``sys.executable`` to its own program, which must not be run)."""
    if not executable or not os.path.isfile(executable):
        return False
    name = os.path.basename(executable).lower()
    return name.startswith(("python", "pypy"))
