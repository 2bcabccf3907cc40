"""The child side of ``storage.writer_process``: creates the files whose keys and values arrive on stdin.

Run as a script by path (``python -I -S _child_writer.py ROOT``): it imports only the standard library,
never nwbzarr, so it starts in ~15 ms. Input frames: a header of two little-endian uint32 (key length,
value length), the key (UTF-8, relative to ROOT, ``/``-separated), the value. At the end of input it
exits 0. On the first error it prints one line ``errno<TAB>key<TAB>message`` to stdout and exits 1.
A frame cut short (the parent stopped mid-frame) is dropped.
"""

from __future__ import annotations

import os
import signal
import struct
import sys

HEADER = struct.Struct("<II")
FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def write_value(path: str, value: bytes) -> None:
    """Create ``path`` with ``value`` in place (one open, one write); an existing file (a key sent twice)
    is replaced atomically through a temporary sibling."""
    try:
        fd = os.open(path, FLAGS, 0o666)
    except FileExistsError:
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, FLAGS, 0o666)
        try:
            _write_all(fd, value)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        return
    try:
        _write_all(fd, value)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


def _write_all(fd: int, value: bytes) -> None:
    view = memoryview(value)
    while view:
        view = view[os.write(fd, view):]


def serve(root: str, source, report) -> int:
    """Write every frame of ``source`` under ``root``; the exit status (see the module's docstring)."""
    made: set[str] = set()
    while True:
        head = source.read(HEADER.size)
        if len(head) < HEADER.size:
            return 0
        key_len, value_len = HEADER.unpack(head)
        key = source.read(key_len)
        value = source.read(value_len)
        if len(key) < key_len or len(value) < value_len:
            return 0
        name = key.decode("utf-8")
        path = os.path.join(root, *name.split("/"))
        try:
            folder = os.path.dirname(path)
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            write_value(path, value)
        except OSError as exc:
            message = str(exc.strerror or exc).replace("\t", " ").replace("\n", " ")
            report.write(f"{exc.errno or 0}\t{name}\t{message}\n")
            report.flush()
            return 1


def main() -> int:
    # an interrupt reaches the whole process group: the parent decides what happens, by closing our input
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with os.fdopen(sys.stdin.fileno(), "rb", buffering=1 << 20, closefd=False) as source:
        return serve(sys.argv[1], source, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
