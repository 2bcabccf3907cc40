"""One thread pool for chunk encoding and decoding (zarr's codecs release the GIL while they work)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

_POOL: ThreadPoolExecutor | None = None


def codec_pool() -> ThreadPoolExecutor:
    """The shared pool, one thread per core, created on first use."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="nwbzarr-codec")
    return _POOL
