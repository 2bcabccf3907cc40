"""The child side of ``storage.writer_process``: creates the files whose keys and values the parent spools.

Run as a script by path (``python -I -S _child_writer.py ROOT SPOOL``): it imports only the standard
library, never nwbzarr, so it starts in ~15 ms. The parent appends batches of frames to the file SPOOL and,
once a batch is written there, sends its length on stdin as a little-endian uint64 (a "notice"). A frame
is a header of two little-endian uint32 (key length, value length), the key (UTF-8, relative to ROOT,
``/``-separated) and the value. The values travel through the spool, not the pipe, because a pipe holds
64 KiB: a parent writing into it waits for the child at every batch, and the two would take turns instead
of working at once. At the end of stdin the child exits 0. On the first error it prints one line
``errno<TAB>key<TAB>message`` to stdout and exits 1. A batch or frame cut short (the parent stopped
mid-way) is dropped.
"""

from __future__ import annotations

import os
import signal
import struct
import sys

HEADER = struct.Struct("<II")
NOTICE = struct.Struct("<Q")
FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def write_value(path: str, value: memoryview) -> None:
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


def _write_all(fd: int, value: memoryview) -> None:  # not _files.write_all: this script imports no nwbzarr
    while value:
        value = value[os.write(fd, value):]


def read_exactly(source, size: int) -> bytearray | None:
    """``size`` bytes from an unbuffered file, or None when it ends first."""
    block = bytearray(size)
    view, got = memoryview(block), 0
    while got < size:
        n = source.readinto(view[got:])
        if not n:
            return None
        got += n
    return block


def frames(block: bytearray):
    """(key, value) of each whole frame of a batch; a frame cut short ends it."""
    view, at, end = memoryview(block), 0, len(block)
    while at + HEADER.size <= end:
        key_len, value_len = HEADER.unpack_from(block, at)
        start = at + HEADER.size
        at = start + key_len + value_len
        if at > end:
            return
        yield bytes(view[start:start + key_len]).decode("utf-8"), view[start + key_len:at]


def serve(root: str, notices, spool, report) -> int:
    """Store every batch that ``notices`` announces in ``spool`` under ``root``; the exit status (see the
    module's docstring)."""
    made: set[str] = set()
    while True:
        head = read_exactly(notices, NOTICE.size)
        if head is None:
            return 0
        size = NOTICE.unpack(head)[0]
        if size > os.fstat(spool.fileno()).st_size - spool.tell():  # never so from our parent: cut short
            return 0
        block = read_exactly(spool, size)
        if block is None:
            return 0
        for name, value in frames(block):
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
    root, spool_path = sys.argv[1], sys.argv[2]
    with open(spool_path, "rb", buffering=0) as spool, \
            os.fdopen(sys.stdin.fileno(), "rb", buffering=0, closefd=False) as notices:
        return serve(root, notices, spool, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
