"""The restricted unpickler for hdmf-zarr's pickled chunks: no code runs, and no allocation outgrows the chunk.

hdmf-zarr <= 0.13 pickled object chunks (references, text, compound rows).  nwbzarr rebuilds them
with an unpickler that knows only numpy arrays and dtypes, builtin containers and ``ZarrReference``,
whatever ``NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE`` says.  The callables it allows are wrapped so that
a tiny pickle cannot make them allocate: every array they build, and every ``bytes(n)``, must fit a
byte budget derived from the chunk (its element count) and from the pickle's own length.
"""

from __future__ import annotations

import io
import math
import pickle
from typing import Any

import numpy as np

from ..errors import PickleTooLargeError, UnsafePickleError
from .reference import ZarrReference

#: Bytes an unpickled chunk may build per byte of pickle, on top of what its element count needs.
BYTES_PER_PICKLED_BYTE = 16


def _numpy_helpers() -> tuple[Any, Any]:
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1
        from numpy.core.multiarray import _reconstruct, scalar
    return _reconstruct, scalar


class _Budget:
    """The largest allocation (bytes) one unpickling may ask the allowed callables for."""

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)

    def check(self, nbytes: int, what: str) -> None:
        if nbytes > self.limit:
            raise PickleTooLargeError(f"refusing to unpickle {what}: {nbytes} bytes, more than the "
                                      f"{self.limit} bytes this chunk can hold")


def _array_nbytes(shape: Any, dtype: Any) -> int:
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    if not all(isinstance(d, (int, np.integer)) and d >= 0 for d in dims):
        raise pickle.UnpicklingError(f"invalid array shape {shape!r}")
    return math.prod(int(d) for d in dims) * max(np.dtype(dtype).itemsize, 1)


class _PickledArray(np.ndarray):
    """What ``_reconstruct`` returns while unpickling: an ndarray whose ``__setstate__`` (pickle's BUILD)
    checks the declared shape against the budget before numpy allocates it."""

    _budget: _Budget | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("an ndarray state is not a 4- or 5-tuple")
        shape, dtype, raw = state[-4], np.dtype(state[-3]), state[-1]
        nbytes = _array_nbytes(shape, dtype)
        if self._budget is not None:
            self._budget.check(nbytes, f"an array of shape {tuple(shape)} and dtype {dtype}")
        if dtype.hasobject:
            if not isinstance(raw, list) or len(raw) != math.prod(int(d) for d in shape):
                raise pickle.UnpicklingError(f"an object array of shape {tuple(shape)} with "
                                             f"{len(raw) if isinstance(raw, list) else 'no'} elements")
            raw = [plain_array(v) for v in raw]
            state = state[:-1] + (raw,)
        elif not isinstance(raw, (bytes, bytearray)) or len(raw) != nbytes:
            raise pickle.UnpicklingError(f"an array of {nbytes} bytes with a data buffer of another size")
        super().__setstate__(state)


def plain_array(value: Any) -> Any:
    """``value`` with a ``_PickledArray`` turned back into a plain ndarray (anything else unchanged)."""
    return value.view(np.ndarray) if isinstance(value, _PickledArray) else value


def _allowed_globals(budget: _Budget) -> dict[tuple[str, str], Any]:
    import builtins

    _reconstruct, scalar = _numpy_helpers()

    def reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        if subtype is not np.ndarray:
            raise UnsafePickleError(f"refusing to rebuild an array of type {subtype!r}")
        budget.check(_array_nbytes(shape, dtype), f"an array of shape {shape!r}")
        arr = _reconstruct(_PickledArray, shape, dtype)
        arr._budget = budget
        return arr

    def frombuffer(buf: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
        """numpy's own pickle helper for plain-data arrays (protocol 5), refusing object dtypes."""
        dtype = np.dtype(dtype)
        if dtype.hasobject:
            raise pickle.UnpicklingError("an object array cannot be rebuilt from raw bytes")
        budget.check(_array_nbytes(shape, dtype), f"an array of shape {shape!r}")
        return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).copy()

    def sized(kind: type) -> Any:
        def build(*args: Any) -> Any:
            if args and isinstance(args[0], (int, np.integer)):
                budget.check(int(args[0]), f"{kind.__name__}({int(args[0])})")
            return kind(*args)
        return build

    allowed: dict[tuple[str, str], Any] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = reconstruct
        allowed[(mod, "scalar")] = scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(mod, "_frombuffer")] = frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    for name in ("dict", "list", "tuple", "set", "frozenset", "str", "int", "float", "bool", "complex"):
        allowed[("builtins", name)] = allowed[("__builtin__", name)] = getattr(builtins, name)
    for name in ("bytes", "bytearray"):
        allowed[("builtins", name)] = allowed[("__builtin__", name)] = sized(getattr(builtins, name))
    allowed[("_codecs", "encode")] = _latin1_encode  # protocol-2 pickles spell raw bytes this way
    for mod in ("hdmf_zarr.utils", "hdmf_zarr.backend", "hdmf_zarr.zarr_utils", "nwbzarr.format.reference"):
        allowed[(mod, "ZarrReference")] = ZarrReference
    return allowed


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin-1")


class RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays, builtin containers and ZarrReference within a byte budget; refuses every
    other global."""

    def __init__(self, file: Any, budget: int) -> None:
        super().__init__(file)
        self._allowed = _allowed_globals(_Budget(budget))

    def find_class(self, module: str, name: str) -> Any:
        found = self._allowed.get((module, name))
        if found is None:
            raise UnsafePickleError(f"refusing to unpickle {module}.{name}: the legacy layout never stores it")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refusing a pickle with persistent ids")


def pickle_budget(data_length: int, expected_bytes: int = 0) -> int:
    """Bytes an unpickling may allocate: what the chunk needs, or a small multiple of the pickle's size."""
    return max(int(expected_bytes), BYTES_PER_PICKLED_BYTE * int(data_length), 1 << 16)


def restricted_loads(data: Any, expected_bytes: int = 0) -> Any:
    """``pickle.loads`` limited to what hdmf-zarr writes (see ``RestrictedUnpickler``), refusing pickles that
    would build more than ``pickle_budget`` bytes."""
    raw = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    value = RestrictedUnpickler(io.BytesIO(raw), pickle_budget(len(raw), expected_bytes)).load()
    return plain_array(value)
