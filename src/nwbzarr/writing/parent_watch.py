"""Worker processes end when the process that started them dies (even by SIGKILL), instead of writing on.

Two mechanisms, as available: on Linux the kernel sends the worker SIGKILL when its parent ends
(``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon thread polls the parent and ends the worker once it
is gone (POSIX: the worker was re-parented; Windows: multiprocessing's handle on the parent is signalled).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.5
ORPHAN_EXIT_CODE = 70

__all__ = ["exit_with_parent"]


def exit_with_parent(owner: int | None = None, poll_seconds: float = POLL_SECONDS) -> None:
    """In a worker process: arrange to exit as soon as the parent process is gone. ``owner``: the pid that
    started this worker, when it is the direct parent (fork, spawn; not forkserver), to catch a parent that
    died before this call."""
    parent = os.getppid()
    _ask_kernel_for_death_signal()
    if (owner is not None and parent != owner) or _orphaned(parent):  # died before the signal was set up
        os._exit(ORPHAN_EXIT_CODE)
    watcher = threading.Thread(target=_watch, args=(parent, poll_seconds), name="nwbzarr-parent-watch",
                               daemon=True)
    watcher.start()


def _ask_kernel_for_death_signal() -> bool:
    """Linux: SIGKILL this process when its parent (the thread that forked it) ends; False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):  # no libc (musl without prctl symbol, ...): the watcher remains
        return False


def _orphaned(parent: int) -> bool:
    if sys.platform == "win32":
        process = multiprocessing.parent_process()
        return process is not None and not process.is_alive()
    return os.getppid() != parent


def _watch(parent: int, poll_seconds: float) -> None:
    event = threading.Event()
    while not event.wait(poll_seconds):
        if _orphaned(parent):
            os._exit(ORPHAN_EXIT_CODE)
