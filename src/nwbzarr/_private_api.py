"""Every use of another library's private or internal API (zarr's ``zarr.core.*`` and underscored names,
hdmf's underscored names), each behind a small named function or alias.

The lowest layer after ``nwbzarr.errors``: it imports only libraries.  Each entry says what it relies on
and since which release; tests/test_private_api.py fails loudly when one stops working on the installed
zarr or hdmf, and a fast path whose capability check fails at run time warns once (``FastPathOffWarning``)
instead of going slow in silence.  Public zarr API (``zarr.abc``, ``zarr.storage``, ``zarr.codecs``,
``zarr.buffer``, ``zarr.config``, ``zarr.AsyncArray``) is imported where it is used, not here.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import zarr

# zarr.core.* is documented by zarr as internal: these names have been stable since zarr 3.0.
from zarr.core.array_spec import ArrayConfig, ArraySpec  # zarr >= 3.0: the per-chunk spec codecs take
from zarr.core.common import concurrent_map  # zarr >= 3.0: asyncio.gather, at most `limit` at a time
from zarr.core.metadata.v2 import ArrayV2Metadata  # zarr >= 3.0: parsed .zarray documents
from zarr.core.metadata.v3 import ArrayV3Metadata  # zarr >= 3.0: parsed zarr.json array documents
from zarr.core.sync import sync  # zarr >= 3.0: runs a coroutine on zarr's own I/O event loop

from .errors import FastPathOffWarning

__all__ = [
    "ArrayConfig",
    "ArraySpec",
    "ArrayV2Metadata",
    "ArrayV3Metadata",
    "FastPathOffWarning",
    "LazyZarrArray",
    "NumcodecsBytesBytesCodec",
    "array_config",
    "bounded_map",
    "chunk_spec",
    "codecs_run_sync",
    "concurrent_map",
    "decode_sync",
    "encode_sync",
    "fast_path_off",
    "hdf5io_file",
    "iterator_block",
    "set_hdmfio_manager",
    "sync",
    "sync_decode_override",
    "zarr_codecs_run_sync",
    "zarr_numcodecs_codecs",
]


_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()


def fast_path_off(name: str, reason: str) -> None:
    """Warn once per process that fast path ``name`` is off (``reason``), so slow runs are never silent."""
    with _WARNED_LOCK:
        if name in _WARNED:
            return
        _WARNED.add(name)
    warnings.warn(f"nwbzarr: the {name} fast path is off on zarr {zarr.__version__} ({reason}); "
                  "reads and writes still work, more slowly", FastPathOffWarning, stacklevel=3)


# --- bounded concurrency ---------------------------------------------------------------------------
async def bounded_map(items: Iterable[tuple], func: Callable[..., Awaitable[Any]], limit: int | None = None) -> list:
    """``func(*item)`` for every item, at most ``limit`` at a time (default: zarr's ``async.concurrency``).

    zarr.core.common.concurrent_map (zarr >= 3.0).
    """
    return await concurrent_map(list(items), func, limit=limit or zarr.config.get("async.concurrency"))


# --- chunks encoded and decoded synchronously ------------------------------------------------------
_SYNC_METHODS = {"encode": "_encode_sync", "decode": "_decode_sync"}


def zarr_codecs_run_sync() -> bool:
    """Whether zarr's own codecs still have ``_encode_sync``/``_decode_sync`` (zarr >= 3.0), checked on its
    BytesCodec, which every v3 array has."""
    from zarr.codecs import BytesCodec

    return all(hasattr(BytesCodec, m) for m in _SYNC_METHODS.values())


def codecs_run_sync(codecs: Iterable[Any], direction: str) -> bool:
    """Whether every codec has the synchronous ``_encode_sync``/``_decode_sync`` (``direction`` "encode" or
    "decode") that zarr's own codecs implement (wrapped numcodecs have none, sharding before zarr 3.4).
    False on a zarr whose own codecs lost them, which warns once."""
    method = _SYNC_METHODS[direction]
    if all(hasattr(c, method) and hasattr(c, "resolve_metadata") for c in codecs):
        return True
    if not zarr_codecs_run_sync():
        fast_path_off("direct chunk encoding and decoding", "zarr's codecs have no _encode_sync/_decode_sync")
    return False


def encode_sync(codec: Any, chunk: Any, spec: ArraySpec) -> Any:
    """One codec's encoding of one chunk in this thread: ``Codec._encode_sync`` (zarr >= 3.0)."""
    return codec._encode_sync(chunk, spec)


def decode_sync(codec: Any, chunk: Any, spec: ArraySpec) -> Any:
    """One codec's decoding of one chunk in this thread: ``Codec._decode_sync`` (zarr >= 3.0)."""
    return codec._decode_sync(chunk, spec)


def sync_decode_override(base: type, check: Callable[[Any, Any], None]) -> type:
    """A subclass of codec class ``base`` that runs ``check(chunk_bytes, chunk_spec)`` before decoding.

    Relies on zarr's Blosc and Zstd codecs decoding through ``_decode_sync`` on every path (their async
    ``_decode_single`` runs it in a thread; zarr >= 3.0).
    """
    def _decode_sync(self: Any, chunk_bytes: Any, chunk_spec: Any) -> Any:
        check(chunk_bytes, chunk_spec)
        return base._decode_sync(self, chunk_bytes, chunk_spec)

    return type(f"Checked{base.__name__}", (base,), {"_decode_sync": _decode_sync})


def array_config(array: Any) -> ArrayConfig:
    """The runtime configuration (order, empty chunks) of a ``zarr.AsyncArray``: its ``_config`` (zarr >= 3.0;
    a public ``config`` is taken first should zarr add one)."""
    config = getattr(array, "config", None)
    return config if config is not None else array._config


def chunk_spec(metadata: Any, coords: tuple[int, ...], config: Any, prototype: Any) -> ArraySpec:
    """zarr's ArraySpec of one chunk of a regular grid: ``metadata.get_chunk_spec`` up to zarr 3.3, built
    from the metadata where that method is gone (v3 metadata of zarr >= 3.4)."""
    method = getattr(metadata, "get_chunk_spec", None)
    if method is not None:
        return method(coords, config, prototype)
    shape = getattr(getattr(metadata, "chunk_grid", None), "chunk_shape", None)
    if shape is None:
        raise NotImplementedError("no regular chunk grid")
    return ArraySpec(shape=tuple(shape), dtype=metadata.dtype, fill_value=metadata.fill_value, config=config,
                     prototype=prototype)


# --- codecs ----------------------------------------------------------------------------------------
def zarr_numcodecs_codecs() -> Any:
    """zarr's module of ``numcodecs.*`` codec wrappers, ``zarr.codecs.numcodecs._codecs`` (zarr >= 3.1)."""
    from zarr.codecs.numcodecs import _codecs

    return _codecs


#: zarr's base class of bytes-to-bytes numcodecs wrappers, ``_NumcodecsBytesBytesCodec`` (zarr >= 3.1)
NumcodecsBytesBytesCodec: type = zarr_numcodecs_codecs()._NumcodecsBytesBytesCodec


# --- zarr.Array opened on first use ----------------------------------------------------------------
class LazyZarrArray(zarr.Array):
    """A ``zarr.Array`` whose ``AsyncArray`` is opened by ``_open_async_array`` on first use.

    zarr.Array is a dataclass whose methods read the field ``_async_array`` (zarr >= 3.0): a property of
    that name takes the field's place, so ``zarr.Array.__init__`` runs and the array still opens lazily.
    """

    def __init__(self, async_array: Any = None) -> None:
        super().__init__(async_array)

    def _open_async_array(self) -> Any:
        """The ``zarr.AsyncArray`` (or an object with its reading API) to use; called once, on first use."""
        raise NotImplementedError

    def _use_async_array(self, array: Any) -> None:
        """Read through ``array`` from now on (None: open again on next use)."""
        self.__dict__["_nwbzarr_async_array"] = array

    @property  # type: ignore[override]
    def _async_array(self) -> Any:
        found = self.__dict__.get("_nwbzarr_async_array")
        if found is None:
            found = self._open_async_array()
            self.__dict__["_nwbzarr_async_array"] = found
        return found

    @_async_array.setter
    def _async_array(self, value: Any) -> None:
        self._use_async_array(value)


# --- stores ----------------------------------------------------------------------------------------
def store_is_open(store: Any) -> bool:
    """Whether a zarr store has been opened (``Store._is_open``, zarr >= 3.0; stores without it: True)."""
    return bool(getattr(store, "_is_open", True))


async def open_store(store: Any) -> None:
    """Open a zarr store that needs it before its first call (``Store._open``, zarr >= 3.0; e.g. ZipStore)."""
    await store._open()


def wrapped_store(store: Any) -> Any:
    """The store a ``zarr.storage.WrapperStore`` (or a wrapper following its convention, as nwbzarr's cache)
    wraps: its ``_store`` (zarr >= 3.0); None for a store that wraps nothing."""
    return getattr(store, "_store", None)


# --- hdmf ------------------------------------------------------------------------------------------
def set_hdmfio_manager(io: Any, manager: Any) -> None:
    """Give an ``HDMFIO`` opened without a BuildManager the one of an export's source.

    HDMFIO takes its manager only in its constructor and keeps it in the name-mangled ``__manager``
    (read through the public ``manager`` property; hdmf >= 3).
    """
    io._HDMFIO__manager = manager
    if io.manager is not manager:
        raise RuntimeError(f"hdmf {_hdmf_version()} keeps an HDMFIO's BuildManager elsewhere: nwbzarr cannot "
                           "export into a store opened without a manager")


def _hdmf_version() -> str:
    import hdmf

    return str(hdmf.__version__)


def hdf5io_file(io: Any) -> Any:
    """The open ``h5py.File`` of an hdmf ``HDF5IO`` (its ``_file``; hdmf >= 3)."""
    return io._file


def iterator_block(iterator: Any, selection: tuple[slice, ...]) -> Any:
    """One block of an hdmf ``GenericDataChunkIterator``: the abstract ``_get_data`` its subclasses
    implement (hdmf >= 3.1)."""
    return iterator._get_data(selection)
