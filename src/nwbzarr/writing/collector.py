"""Pausing Python's cyclic garbage collector while a write builds its many small objects.

A write of a file with thousands of objects allocates millions of containers (HDMF's builders, the
write plan, metadata documents) that all stay alive until it ends.  Each allocation burst triggers the
collector, and its full collections walk the whole heap without finding garbage: on the W2 benchmark
(10,000 objects) three full collections cost 0.25 s of a 4.5 s write.  Like ``json`` loaders and ORMs
do for bulk loads, we pause it for the build and the plan, and let it run again during the long phases
that stream data (copies, data chunk iterators), where cyclic garbage would otherwise pile up.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_LOCK = threading.Lock()
_DEPTH = 0  # writes in progress that paused the collector
_WAS_ENABLED = False  # whether the collector ran before the first of them


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection inside (nested and concurrent writes included); afterwards the collector
    runs again only if it ran before."""
    global _DEPTH, _WAS_ENABLED
    with _LOCK:
        if _DEPTH == 0:
            _WAS_ENABLED = gc.isenabled()
            gc.disable()
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and _WAS_ENABLED:
                gc.enable()


@contextlib.contextmanager
def collector_running() -> Iterator[None]:
    """Let the collector run inside ``collector_paused`` (phases that stream data for a long time)."""
    with _LOCK:
        resume = _DEPTH > 0 and _WAS_ENABLED and not gc.isenabled()
        if resume:
            gc.enable()
    try:
        yield
    finally:
        with _LOCK:
            if resume and _DEPTH > 0 and gc.isenabled():
                gc.disable()
