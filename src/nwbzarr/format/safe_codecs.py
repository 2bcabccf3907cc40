"""Codec chains of untrusted stores: pickle only through the restricted unpickler, decoders bounded by the chunk.

Every Zarr v2 filter and compressor nwbzarr decodes is built by ``v2_codec``: ``pickle`` (in any
position) becomes ``RestrictedPickleCodec`` whatever ``NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE`` says, and
every other codec is wrapped in ``BoundedCodec``, which checks the sizes a compressed chunk declares
(blosc, zstd, lz4 headers) or decompresses in bounded steps (gzip, zlib, bz2, lzma) so that a chunk never
decodes to more than its array's metadata allows, and refuses a truncated blosc chunk (which blosc
itself would decode to garbage).  v3 arrays get the same checks through ``checked_v3_codecs``.
"""

from __future__ import annotations

import bz2
import copy
import lzma
import math
import pickle
import zlib
from typing import Any

import numcodecs
import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray, ensure_ndarray_like

from .._private_api import sync_decode_override
from ..errors import ChunkSizeError
from ..storage._verify import register_array_opener
from .base import FormatError
from .unpickle import restricted_loads

#: Largest growth (bytes out per byte in) of a v2 filter chain: an ``AsType`` from uint8 to complex128.
FILTER_GROWTH = 16
#: Bytes an object chunk (text, references, JSON) may decode to: per element, and at least this much.
OBJECT_BYTES_PER_ELEMENT = 16 << 10
OBJECT_CHUNK_FLOOR = 64 << 20
_BLOSC_HEADER = 16
_ZSTD_MAGIC = 0xFD2FB528


def object_chunk_limit(elements: int) -> int:
    """Bytes an object chunk of ``elements`` elements may decode to (see ``OBJECT_BYTES_PER_ELEMENT``)."""
    return max(OBJECT_CHUNK_FLOOR, int(elements) * OBJECT_BYTES_PER_ELEMENT)


class RestrictedPickleCodec(Codec):
    """numcodecs' ``pickle`` codec with nwbzarr's restricted unpickler: ignores the unsafe-pickle opt-in."""

    codec_id = "pickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL, expected_bytes: int = 0) -> None:
        self.protocol = int(protocol)
        self.expected_bytes = int(expected_bytes)

    def encode(self, buf: Any) -> bytes:
        return pickle.dumps(buf, protocol=self.protocol)

    def decode(self, buf: Any, out: Any = None) -> Any:
        value = restricted_loads(ensure_contiguous_ndarray(buf), self.expected_bytes)
        if out is not None:
            np.copyto(out, value)
            return out
        return value

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "protocol": self.protocol}

    def __repr__(self) -> str:
        return f"RestrictedPickleCodec(protocol={self.protocol})"


class BoundedCodec(Codec):
    """A numcodecs codec whose ``decode`` yields at most ``limit`` bytes (exactly ``exact`` when set),
    checked before decoding where the format declares its size."""

    codec_id = "bounded"  # each instance takes its inner codec's id

    def __init__(self, inner: Codec, limit: int, exact: int | None = None) -> None:
        self.inner = inner
        self.codec_id = inner.codec_id
        self.limit = int(limit if exact is None else exact)
        self.exact = exact

    def encode(self, buf: Any) -> Any:
        return self.inner.encode(buf)

    def decode(self, buf: Any, out: Any = None) -> Any:
        data = ensure_contiguous_ndarray(buf)
        decoded = _bounded_stream_decode(self.inner, data, self.limit)
        if decoded is None:
            self._check(_declared_size(self.inner, data), "declares")
            decoded = self.inner.decode(data)
        nbytes = ensure_ndarray_like(decoded).nbytes
        if ensure_ndarray_like(decoded).dtype != object:
            self._check(nbytes, "decodes to")
        if out is not None:
            np.copyto(ensure_ndarray_like(out).reshape(-1).view("u1"),
                      ensure_ndarray_like(decoded).reshape(-1).view("u1"))
            return out
        return decoded

    def _check(self, nbytes: int | None, verb: str) -> None:
        if nbytes is None:
            return
        if self.exact is not None and nbytes != self.exact:
            raise ChunkSizeError(f"the {self.codec_id} data {verb} {nbytes} bytes where the array's metadata "
                                 f"makes a chunk {self.exact} bytes")
        if nbytes > self.limit:
            raise ChunkSizeError(f"the {self.codec_id} data {verb} {nbytes} bytes, more than the {self.limit} "
                                 "bytes a chunk of this array can hold")

    def get_config(self) -> dict[str, Any]:
        return self.inner.get_config()

    def __repr__(self) -> str:
        return f"BoundedCodec({self.inner!r}, limit={self.limit})"


def v2_codec(config: Any, limit: int, exact: int | None = None) -> Codec:
    """The codec for one v2 filter/compressor configuration: pickle restricted, the rest bounded."""
    if not isinstance(config, dict) or not isinstance(config.get("id"), str):
        raise FormatError(f"codec configuration {config!r} has no id")
    if config["id"] == "pickle":
        return RestrictedPickleCodec(int(config.get("protocol", pickle.HIGHEST_PROTOCOL)), limit)
    return BoundedCodec(numcodecs.get_codec(dict(config)), limit, exact)


def v2_chain(filters: list | None, compressor: dict | None, exact: int | None,
             limit: int) -> tuple[list[Codec], Codec | None]:
    """(filters, compressor) of a v2 array: every step bounded by ``limit`` bytes, the last decoding step
    (first filter, else the compressor) by exactly ``exact`` bytes when the chunk's size is known."""
    filters = list(filters or [])
    out_filters = [v2_codec(f, limit, exact if i == 0 else None) for i, f in enumerate(filters)]
    comp = v2_codec(compressor, limit, exact if not filters else None) if compressor is not None else None
    return out_filters, comp


def numeric_chain(filters: list | None, compressor: dict | None, chunk_bytes: int) -> tuple[list[Codec], Codec | None]:
    """``v2_chain`` for a chunk of ``chunk_bytes`` fixed-size bytes (filters may grow it ``FILTER_GROWTH``-fold)."""
    return v2_chain(filters, compressor, chunk_bytes, FILTER_GROWTH * chunk_bytes)


def safe_v2_metadata(metadata: Any) -> Any:
    """zarr's v2 array metadata with nwbzarr's codecs: pickle restricted wherever it stands, every decoder
    bounded by the chunk's size (object chunks by ``object_chunk_limit``)."""
    import dataclasses

    native = metadata.dtype.to_native_dtype()
    elements = math.prod(metadata.chunks)
    filters = [f.get_config() for f in metadata.filters or ()]
    compressor = metadata.compressor.get_config() if metadata.compressor else None
    if native.hasobject:
        out_filters, out_comp = v2_chain(filters, compressor, None, object_chunk_limit(elements))
    else:
        out_filters, out_comp = numeric_chain(filters, compressor, elements * max(native.itemsize, 1))
    return dataclasses.replace(metadata, filters=out_filters or None, compressor=out_comp)


def safe_zarr_array(array: Any) -> Any:
    """A ``zarr.Array`` opened by zarr itself, with the codecs of ``safe_v2_metadata``/``checked_v3_codecs``."""
    import dataclasses

    import zarr
    from zarr import AsyncArray

    meta = array.metadata
    if meta.zarr_format == 2:
        meta = safe_v2_metadata(meta)
    else:
        meta = dataclasses.replace(meta, codecs=checked_v3_codecs(tuple(meta.codecs)))
    return zarr.Array(AsyncArray(metadata=meta, store_path=array.store_path))


def open_safe_array(store: Any, path: str) -> Any:
    """The array at ``path`` opened read-only with safe decoding: what a few-files store's ``verify()`` uses."""
    import zarr

    return safe_zarr_array(zarr.open_array(store, path=path, mode="r"))


register_array_opener(open_safe_array)  # storage cannot import this layer: it is handed the opener


# --- declared sizes ------------------------------------------------------------------------------
def _declared_size(codec: Codec, data: np.ndarray) -> int | None:
    """The decoded size a compressed chunk declares in its header (blosc, zstd, lz4), checked for
    truncation where the header records the compressed size too (blosc)."""
    raw = data.reshape(-1).view("u1")
    if codec.codec_id == "blosc":
        return blosc_declared_size(raw)
    if codec.codec_id == "lz4" and raw.size >= 4:
        return int.from_bytes(raw[:4].tobytes(), "little")
    if codec.codec_id == "zstd":
        return zstd_declared_size(raw)
    return None


def blosc_declared_size(raw: np.ndarray) -> int:
    """The decoded size in a blosc header, after checking the chunk is as long as the header says."""
    if raw.size < _BLOSC_HEADER:
        raise ChunkSizeError(f"the blosc data is {raw.size} bytes, shorter than a blosc header")
    head = raw[:_BLOSC_HEADER].tobytes()
    nbytes, cbytes = int.from_bytes(head[4:8], "little"), int.from_bytes(head[12:16], "little")
    if cbytes != raw.size:
        raise ChunkSizeError(f"the blosc data is {raw.size} bytes where its header says {cbytes} "
                             "(truncated or padded)")
    return nbytes


def check_blosc_chunk(raw: np.ndarray, nbytes: int) -> None:
    """Refuse blosc data (uint8) that is truncated or declares another size than a chunk's ``nbytes``."""
    declared = blosc_declared_size(raw)
    if declared != nbytes:
        raise ChunkSizeError(f"the blosc data declares {declared} bytes where the array's metadata makes a "
                             f"chunk {nbytes} bytes")


def check_raw_chunk(raw: np.ndarray, nbytes: int) -> None:
    """Refuse an uncompressed chunk (uint8) that is not exactly ``nbytes`` long."""
    if raw.size != nbytes:
        raise ChunkSizeError(f"the chunk is {raw.size} bytes where the array's metadata makes it {nbytes}")


def zstd_declared_size(raw: np.ndarray) -> int | None:
    """The content size in the first zstd frame's header, or None when the frame does not record it."""
    if raw.size < 6 or int.from_bytes(raw[:4].tobytes(), "little") != _ZSTD_MAGIC:
        return None
    fhd = int(raw[4])
    fcs_flag, single, dict_flag = fhd >> 6, (fhd >> 5) & 1, fhd & 3
    at = 5 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag]
    size = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if size == 0 or raw.size < at + size:
        return None
    value = int.from_bytes(raw[at:at + size].tobytes(), "little")
    return value + 256 if size == 2 else value


def _bounded_stream_decode(codec: Codec, data: np.ndarray, limit: int) -> bytes | None:
    """gzip/zlib/bz2/lzma decoded in one bounded step (None for other codecs): more than ``limit`` bytes,
    or a stream that does not end, is refused."""
    if codec.codec_id in ("gzip", "zlib"):
        dec: Any = zlib.decompressobj(47)
    elif codec.codec_id == "bz2":
        dec = bz2.BZ2Decompressor()
    elif codec.codec_id == "lzma":
        fmt = getattr(codec, "format", lzma.FORMAT_AUTO)
        dec = lzma.LZMADecompressor(format=fmt, filters=getattr(codec, "filters", None)
                                    if fmt == lzma.FORMAT_RAW else None)
    else:
        return None
    out = dec.decompress(data.reshape(-1).view("u1").tobytes(), limit + 1)
    if len(out) > limit:
        raise ChunkSizeError(f"the {codec.codec_id} data decodes to more than the {limit} bytes a chunk of "
                             "this array can hold")
    if not dec.eof:
        raise ChunkSizeError(f"the {codec.codec_id} data ends before its stream does (truncated)")
    return out


# --- v3 ------------------------------------------------------------------------------------------
def _spec_nbytes(chunk_spec: Any) -> int | None:
    """Bytes of one chunk of fixed-size elements (None for variable-length data types)."""
    dtype = chunk_spec.dtype
    native = dtype.to_native_dtype() if hasattr(dtype, "to_native_dtype") else dtype
    if not isinstance(native, np.dtype) or native.hasobject or native.kind in "OT":
        return None
    return math.prod(chunk_spec.shape) * native.itemsize


def _check_v3(name: str, declared: int | None, chunk_spec: Any) -> None:
    expected = _spec_nbytes(chunk_spec)
    limit = expected if expected is not None else object_chunk_limit(math.prod(chunk_spec.shape))
    if declared is not None and expected is not None and declared != expected:
        raise ChunkSizeError(f"the {name} data declares {declared} bytes where the array's metadata makes a "
                             f"chunk {expected} bytes")
    if declared is not None and declared > limit:
        raise ChunkSizeError(f"the {name} data declares {declared} bytes, more than the {limit} bytes a "
                             "chunk of this array can hold")


def _checked_class(base: type, name: str, declared: Any) -> type:
    def check(chunk_bytes: Any, chunk_spec: Any) -> None:
        _check_v3(name, declared(chunk_bytes.as_numpy_array().reshape(-1).view("u1")), chunk_spec)

    return sync_decode_override(base, check)


_CHECKED: dict[type, type] = {}


def _checked_classes() -> dict[type, type]:
    if not _CHECKED:
        from zarr.codecs import BloscCodec, ZstdCodec

        _CHECKED[BloscCodec] = _checked_class(BloscCodec, "blosc", blosc_declared_size)
        _CHECKED[ZstdCodec] = _checked_class(ZstdCodec, "zstd", zstd_declared_size)
    return _CHECKED


def checked_v3_codecs(codecs: tuple) -> tuple:
    """v3 codecs with blosc/zstd checking the size a chunk declares (and blosc its truncation) before
    decoding; sharding codecs get the same for their inner codecs."""
    import dataclasses

    from zarr.codecs import ShardingCodec

    classes = _checked_classes()
    out = []
    for codec in codecs:
        cls = classes.get(type(codec))
        if cls is not None:
            codec = copy.copy(codec)
            object.__setattr__(codec, "__class__", cls)
        elif isinstance(codec, ShardingCodec):
            codec = dataclasses.replace(codec, codecs=checked_v3_codecs(tuple(codec.codecs)))
        out.append(codec)
    return tuple(out)
