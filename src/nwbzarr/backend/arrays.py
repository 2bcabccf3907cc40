"""Lazy datasets handed to HDMF on read: nothing is read until indexed, and reads are cached sensibly.

Small arrays (index columns, region columns, short tables) are read whole on first access, so HDMF's
element-by-element access costs one store read; large 1-D arrays keep a small cache of decoded chunks
so that iterating ragged columns does not re-read and re-decode the same chunk per element.

Values come back as NWBHDF5IO gives them: numbers as numpy arrays; text as object arrays of ``str`` (the
dtype reported is h5py's variable-length string dtype, ``object`` tagged ``{'vlen': str}``, also when the
dataset is empty); compounds as numpy structured arrays with the stored field types (one row is a
``numpy.void``), reference fields resolved into an ``object`` field; datasets of references as lists.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np
from hdmf.query import BuilderResolver, ContainerResolver
from zarr import AsyncArray

from .._private_api import LazyZarrArray
from ..format.base import NodeInfo, map_objects
from ..format.corrupt import PASS_THROUGH, read_error

if TYPE_CHECKING:
    from .io import ZarrIO

SMALL_ARRAY_BYTES = 1 << 20  # read whole on first access
BLOCK_CACHE_CHUNKS = 8


class ZarrDataset(LazyZarrArray):
    """A lazily read Zarr array with numpy-style indexing and ``shape``/``dtype``/``chunks``.

    A ``zarr.Array`` subclass, so HDMF and pynwb treat it as the Zarr array it is (dtype conversion,
    export to HDF5); reads go through a small cache and text/references come back decoded.  The zarr
    array is opened on first use, not when the file is read.
    """

    def __init__(self, io: ZarrIO, node: NodeInfo, array: Any = None) -> None:
        self._io = io
        self._node = node
        super().__init__(array)
        self._full: np.ndarray | None = None
        self._decoder: Any = None
        self._single: Any = None  # the SingleChunk of a small plain array, False: not one
        self._layout_cache: tuple[int, int | None] | None = None  # (bytes, first chunk length) until changed
        self._blocks: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _open_async_array(self) -> Any:
        return self._io.layout.open_array(self._io.store, self._node)

    @property
    def _array(self) -> Any:
        return self.async_array

    @_array.setter
    def _array(self, value: Any) -> None:
        self._use_async_array(value)
        self._layout_cache = None

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__

    def astype(self, dtype: Any) -> np.ndarray:
        """All values converted to ``dtype`` (reads the data)."""
        return np.asarray(self.read()).astype(dtype)

    # --- description ---------------------------------------------------------------------
    @property
    def io(self) -> ZarrIO:
        return self._io

    @property
    def dataset(self) -> Any:
        """The underlying zarr ``AsyncArray`` (or the layout's reader)."""
        return self._array

    @property
    def node(self) -> NodeInfo:
        return self._node

    @property
    def name(self) -> str:
        return "/" + self._node.path

    @property
    def path(self) -> str:
        return self._node.path

    @property
    def shape(self) -> tuple[int, ...]:
        stored = self._node.document.get("shape")
        shape = self._node.shape if stored is not None else tuple(self._array.shape)  # node: validated
        return shape[1:] if self._node.scalar_as_1d else shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def chunks(self) -> tuple[int, ...]:
        return tuple(getattr(self._array, "chunks", self.shape))

    @property
    def dtype(self) -> Any:
        """The dtype of the values read: text as h5py's variable-length string dtype (``object`` with
        ``{'vlen': str}`` metadata, as HDF5IO reports it), compounds with text/reference fields as object."""
        text = self._node.text_type
        if text is not None:
            return text_numpy_dtype(text)
        dt = self._array.dtype
        dt = getattr(dt, "to_native_dtype", lambda: dt)() if not isinstance(dt, np.dtype) else dt
        if isinstance(dt, np.dtype) and dt.names is not None:
            return decoded_compound_dtype(dt, self._node.ref_fields)
        if isinstance(dt, np.dtype) and dt.kind in "TOSU":
            return text_numpy_dtype(str)
        return dt

    @property
    def attrs(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(self._node.attrs)

    @property
    def nbytes(self) -> int:
        return self._nbytes()

    @property
    def store_path(self) -> Any:
        return getattr(self._array, "store_path", None)

    @property
    def maxshape(self) -> tuple[None, ...]:
        return tuple(None for _ in self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a scalar dataset")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} shape={self.shape} dtype={self.dtype}>"

    # --- reading --------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        return self._decode(self._read(key))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self[...] if self.shape else self[()]
        arr = np.asarray(values)
        return arr.astype(dtype) if dtype is not None else arr

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def read(self) -> np.ndarray:
        """All values, decoded."""
        return self[...] if self.shape else self[()]

    def preload(self, stored: np.ndarray) -> None:
        """Keep ``stored`` (the whole array as its reader returns it, read in a batch with others) as the
        array's values, so reading it asks the store nothing."""
        self._full = stored

    def _nbytes(self) -> int:
        if self._layout_cache is None:
            dt = self._array.dtype
            itemsize = getattr(dt, "itemsize", 8) if isinstance(dt, np.dtype) else 16
            chunks = self.chunks
            self._layout_cache = (self.size * max(int(itemsize), 1), chunks[0] if chunks else None)
        return self._layout_cache[0]

    def _read(self, key: Any) -> np.ndarray:
        if self._node.scalar_as_1d:
            return self._read_raw(0) if key in ((), Ellipsis, slice(None)) else self._read_raw(0)[key]
        if self._full is not None:
            return self._full[key]
        whole = self._read_single_chunk()
        if whole is not None:
            self._full = whole
            return whole[key]
        if self._nbytes() <= SMALL_ARRAY_BYTES:
            with self._lock:
                if self._full is None:
                    self._full = self._read_raw(...)
            return self._full[key]
        if self.ndim == 1 and _is_simple_1d(key):
            return self._read_1d_cached(key)
        return self._read_raw(key)

    def _read_single_chunk(self) -> np.ndarray | None:
        """A small numeric array in one plain chunk of a store with blocking reads, read and decoded here
        without opening the zarr array (``format.single_chunk``); None: take the general path, which also
        fills in a missing chunk and names a damaged one."""
        if self._single is False:  # checked first: element-wise reads of large arrays come here each time
            return None
        from ..format.single_chunk import decode_single
        from ..storage.batch import sync_reader

        if self._io.writable:  # a file open for writing may change under the document
            self._single = False
            return None
        plan = self._single or self._io.layout.single_chunk(self._node)
        read = sync_reader(self._io.store) if plan is not None else None
        self._single = plan if read is not None else False
        if read is None:
            return None
        raw = read(f"{self._node.path}/{plan.key}" if self._node.path else plan.key)
        if raw is None:
            return None
        try:
            return decode_single(plan, raw)
        except Exception:  # the general path reads it again and raises the named error
            return None

    def _read_raw(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple) and key == ():
            key = ...
        fast = self._read_chunks_directly(key)
        if fast is not None:
            return fast
        return self._io._run_sync(self._array.getitem(key))

    def _read_chunks_directly(self, key: Any) -> np.ndarray | None:
        """Basic slices of numeric arrays: fetch the chunks in one batch, decode them on all cores."""
        from ..format.chunks import basic_selection
        from .chunk_reads import fill_selection

        if self._node.scalar_as_1d or not self.shape:
            return None
        array = self._array
        if not isinstance(array, AsyncArray):
            return None
        native = _native_dtype(array)
        if native is None or native.kind not in "biuf":
            return None
        selection = basic_selection(key, self.shape)
        decoders = self._chunk_decoders(array)
        if selection is None or decoders is None:
            return None
        slices, dropped = selection
        out = np.empty(tuple(s.stop - s.start for s in slices), dtype=native)
        try:
            if out.size:
                fill_selection(array, *decoders, slices, out, self._io._run_sync)
        except PASS_THROUGH:
            raise
        except Exception as exc:  # a chunk that does not decode: find it and name it
            named = self._io._run_sync(read_error(array, slices, self.name))
            if named is None:
                raise
            raise named from exc
        if dropped:
            out = out[tuple(0 if d in dropped else slice(None) for d in range(out.ndim))]
        return out

    def _chunk_decoders(self, array: AsyncArray) -> tuple[Any, Any] | None:
        """(decode, decode_into or None) of this array's chunks, made once; None: use zarr's getitem."""
        from ..format.chunks import chunk_decoder, chunk_decoder_into

        if self._decoder is None:
            decode = chunk_decoder(array)
            self._decoder = (decode, chunk_decoder_into(array)) if decode is not None else False
        return self._decoder or None

    def _read_1d_cached(self, key: int | slice) -> np.ndarray:
        n = self.shape[0]
        self._nbytes()  # fills the cache of (bytes, first chunk length)
        chunk = self._layout_cache[1] or n
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if stop <= start:
                return self._read_raw(key)
            first, last = start // chunk, (stop - 1) // chunk
            if last - first > 2:
                return self._read_raw(key)
            parts = [self._block(b, chunk, n) for b in range(first, last + 1)]
            joined = parts[0] if len(parts) == 1 else np.concatenate(parts)
            return joined[start - first * chunk: stop - first * chunk: step]
        index = int(key) + n if int(key) < 0 else int(key)
        if not 0 <= index < n:
            raise IndexError(f"index {key} is out of bounds for {self.name} of length {n}")
        return self._block(index // chunk, chunk, n)[index % chunk]

    def _block(self, block: int, chunk: int, n: int) -> np.ndarray:
        with self._lock:
            found = self._blocks.get(block)
            if found is not None:
                self._blocks.move_to_end(block)
                return found
        values = self._read_raw(slice(block * chunk, min(n, (block + 1) * chunk)))
        with self._lock:
            self._blocks[block] = values
            while len(self._blocks) > BLOCK_CACHE_CHUNKS:
                self._blocks.popitem(last=False)
        return values

    def _decode(self, values: Any) -> Any:
        if isinstance(values, np.void):
            values = np.array(values, dtype=values.dtype)
        elif isinstance(values, (str, bytes)):
            values = np.array(values, dtype=object)
        if isinstance(values, np.ndarray):
            decoded = self._io.layout.decode_array_values(self._node, values)
            return decoded[()] if decoded.ndim == 0 else decoded  # one compound row is a numpy.void, as h5py's
        return values

    # --- writing (append mode) --------------------------------------------------------------
    def append(self, arg: Any, axis: int = 0) -> None:  # type: ignore[override]
        """Append one element along the first axis (HDMF's ``add_row`` on a file opened in mode ``a``)."""
        if isinstance(arg, list) and len(arg) == 1:
            arg = arg[0]
        self._io._append_to_dataset(self, arg)

    def _invalidate(self) -> None:
        self._full = None
        self._layout_cache = None
        self._blocks.clear()


def _native_dtype(array: Any) -> np.dtype | None:
    dt = array.dtype
    dt = dt.to_native_dtype() if hasattr(dt, "to_native_dtype") else dt
    return dt if isinstance(dt, np.dtype) else None


def _is_simple_1d(key: Any) -> bool:
    if isinstance(key, (int, np.integer)):
        return True
    return isinstance(key, slice) and (key.step in (None, 1))


class _ReferenceMixin:
    """Resolve the references a dataset holds to builders or containers, element by element."""

    def _resolve(self, ref: Any) -> Any:
        raise NotImplementedError

    def _decode(self, values: Any) -> Any:
        decoded = super()._decode(values)  # type: ignore[misc]
        return self._resolve_all(decoded)

    def _resolve_all(self, decoded: Any) -> Any:
        if isinstance(decoded, np.void):
            return self._resolve_rows(np.array(decoded, dtype=decoded.dtype))[()]
        if isinstance(decoded, np.ndarray) and decoded.dtype.names is not None:
            return self._resolve_rows(decoded)
        if isinstance(decoded, np.ndarray):
            return [self._resolve_all(v) for v in decoded] if decoded.ndim else self._resolve(decoded[()])
        return self._resolve(decoded)

    def _resolve_rows(self, rows: np.ndarray) -> np.ndarray:
        """Compound rows as a structured array whose reference fields hold the resolved objects (an object
        field, as HDF5IO and hdmf-zarr return them); other fields keep their stored types."""
        refs = set(self.node.ref_fields)  # type: ignore[attr-defined]
        out = np.empty(rows.shape, dtype=decoded_compound_dtype(rows.dtype, tuple(refs)))
        for name in rows.dtype.names:
            out[name] = map_objects(rows[name], self._resolve) if name in refs else rows[name]
        return out

    @property
    def dtype(self) -> Any:
        if self.node.ref_fields:  # type: ignore[attr-defined]
            return compound_dtype_labels(self._array.dtype, self.node.ref_fields)  # type: ignore[attr-defined]
        return "object"

    def invert(self):
        cls = self.get_inverse_class()  # type: ignore[attr-defined]
        return cls(self._io, self._node, self._array)  # type: ignore[attr-defined]

    def resolve(self, manager: Any = None) -> list:
        return self[:]  # type: ignore[index]


def text_numpy_dtype(text_type: type) -> np.dtype:
    """h5py's spelling of a variable-length text dtype: ``object`` tagged ``{'vlen': str}`` (or bytes)."""
    return np.dtype(object, metadata={"vlen": text_type})


def decoded_compound_dtype(dtype: np.dtype, ref_fields: tuple[str, ...]) -> np.dtype:
    """The structured dtype of decoded compound rows: text and reference fields as object, the rest as stored."""
    return np.dtype([(n, object if n in ref_fields or dtype.fields[n][0].kind in "OUT" else dtype.fields[n][0])
                     for n in dtype.names])


def compound_dtype_labels(dtype: Any, ref_fields: tuple[str, ...]) -> list[str]:
    """hdmf's description of compound columns: 'object' for references, 'utf' for text, else numpy name."""
    np_dt = dtype if isinstance(dtype, np.dtype) else getattr(dtype, "to_native_dtype", lambda: dtype)()
    out = []
    for name in np_dt.names:
        fdt = np_dt.fields[name][0]
        out.append("object" if name in ref_fields else ("utf" if fdt.kind in "UOT" else fdt.name))
    return out


class BuilderReferenceDataset(_ReferenceMixin, ZarrDataset, BuilderResolver):
    """A dataset of references (or a compound with reference columns) that yields builders."""

    def _resolve(self, ref: Any) -> Any:
        return None if ref is None else self._io.resolve_ref(ref, where=f"reference in /{self._node.path}")

    @classmethod
    def get_inverse_class(cls):
        return ContainerReferenceDataset


class ContainerReferenceDataset(_ReferenceMixin, ZarrDataset, ContainerResolver):
    """A dataset of references (or a compound with reference columns) that yields containers."""

    def _resolve(self, ref: Any) -> Any:
        if ref is None:
            return None
        return self._io.manager.construct(self._io.resolve_ref(ref, where=f"reference in /{self._node.path}"))

    @classmethod
    def get_inverse_class(cls):
        return BuilderReferenceDataset

