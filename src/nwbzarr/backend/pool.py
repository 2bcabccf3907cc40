"""One thread pool for chunk encoding and decoding (zarr's codecs release the GIL while they work)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

_POOL: ThreadPoolExecutor | None = None
_POOL_PID: int | None = None


def codec_pool() -> ThreadPoolExecutor:
    """The shared pool of this process, one thread per core, created on first use.

    A forked child inherits the parent's pool object but none of its threads: it gets a pool of its own.
    """
    global _POOL, _POOL_PID
    if _POOL is None or _POOL_PID != os.getpid():
        _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="nwbzarr-codec")
        _POOL_PID = os.getpid()
    return _POOL
