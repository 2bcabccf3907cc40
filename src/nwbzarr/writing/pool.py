"""One thread pool for chunk encoding and decoding (zarr's codecs release the GIL while they work), sized
like zarr's own: ``threading.max_workers`` of zarr's config, else one thread per core."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import zarr

_POOL: ThreadPoolExecutor | None = None
_POOL_PID: int | None = None
_THREADS: int | None = None


def set_codec_threads(threads: int | None) -> None:
    """Size this process's pool (None: zarr's ``threading.max_workers``, else one thread per core); worker
    processes of a pool take their share."""
    global _POOL, _THREADS
    if threads is not None and threads < 1:
        raise ValueError(f"codec threads must be >= 1, not {threads}")
    _THREADS = threads
    if _POOL is not None and os.getpid() == _POOL_PID:
        _POOL.shutdown(wait=False)
    _POOL = None


def codec_pool() -> ThreadPoolExecutor:
    """The shared pool of this process, created on first use with ``codec_threads()`` threads.

    A forked child inherits the parent's pool object but none of its threads: it gets a pool of its own.
    """
    global _POOL, _POOL_PID
    if _POOL is None or os.getpid() != _POOL_PID:
        _POOL = ThreadPoolExecutor(max_workers=codec_threads(), thread_name_prefix="nwbzarr-codec")
        _POOL_PID = os.getpid()
    return _POOL


def codec_threads() -> int:
    """Threads of the codec pool: ``set_codec_threads``'s, else zarr's ``threading.max_workers``, else one
    per core."""
    return _THREADS or zarr.config.get("threading.max_workers") or os.cpu_count() or 2
