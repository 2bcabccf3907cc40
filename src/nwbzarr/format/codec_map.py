"""numcodecs codecs (from HDF5 filters, or given by users) as zarr 3 codecs.

Standard codecs map to zarr's own (gzip, zstd, blosc), so that any Zarr v3 reader decodes them;
anything else is wrapped as a ``numcodecs.<id>`` codec, registered with zarr on first use.
"""

from __future__ import annotations

from typing import Any

import zarr

from .base import FormatError

_BLOSC_SHUFFLE = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle", -1: "shuffle"}


def is_numcodecs_codec(value: Any) -> bool:
    try:
        from numcodecs.abc import Codec
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, Codec)


def as_list(value: Any) -> list:
    if value is None or value == "auto":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def needs_translation(filters: Any, compressors: Any) -> bool:
    return any(is_numcodecs_codec(c) for c in as_list(filters) + as_list(compressors))


def to_zarr3_codecs(filters: Any, compressors: Any) -> tuple[list, list]:
    """(array-to-array codecs, bytes-to-bytes codecs) of filters then compressors, each as a zarr 3 codec.

    numcodecs' array filters (``Delta``, ``FixedScaleOffset``, ``Quantize``, ...) become the
    ``zarr.codecs.numcodecs`` codecs zarr 3 applies before serialising; the rest work on bytes."""
    from zarr.abc.codec import ArrayArrayCodec, ArrayBytesCodec

    array_codecs: list = []
    byte_codecs: list = []
    for codec in as_list(filters) + as_list(compressors):
        converted = to_zarr3_codec(codec)
        if isinstance(converted, ArrayBytesCodec):
            raise ValueError(f"{codec!r} turns arrays into bytes: give it as serializer="
                             f"zarr.codecs.numcodecs.{type(converted).__name__}(...), not as a filter or compressor")
        (array_codecs if isinstance(converted, ArrayArrayCodec) else byte_codecs).append(converted)
    return array_codecs, byte_codecs


def to_zarr3_codec(codec: Any) -> Any:
    if not is_numcodecs_codec(codec):
        return codec
    config = codec.get_config()
    codec_id = config.pop("id")
    if codec_id == "gzip":
        return zarr.codecs.GzipCodec(level=config.get("level", 5))
    if codec_id == "zstd":
        return zarr.codecs.ZstdCodec(level=config.get("level", 0), checksum=bool(config.get("checksum", False)))
    if codec_id == "blosc":
        return zarr.codecs.BloscCodec(
            cname=config.get("cname", "lz4"),
            clevel=config.get("clevel", 5),
            shuffle=_BLOSC_SHUFFLE.get(config.get("shuffle", 1), "shuffle"),
            blocksize=config.get("blocksize", 0),
        )
    return _wrapped(codec_id)(**config)


_WRAPPERS: dict[str, type] = {}


def _wrapped(codec_id: str) -> type:
    """A zarr 3 bytes-to-bytes codec class named ``numcodecs.<codec_id>`` (registered once)."""
    found = _WRAPPERS.get(codec_id)
    if found is not None:
        return found
    from zarr.registry import register_codec

    from .._private_api import NumcodecsBytesBytesCodec, zarr_numcodecs_codecs

    existing = {c.codec_name: c for c in vars(zarr_numcodecs_codecs()).values()
                if isinstance(c, type) and getattr(c, "codec_name", None)}
    cls = existing.get(f"numcodecs.{codec_id}")
    if cls is None:
        cls = type(f"Wrapped_{codec_id}", (NumcodecsBytesBytesCodec,), {}, codec_name=codec_id)
        register_codec(f"numcodecs.{codec_id}", cls)
    _WRAPPERS[codec_id] = cls
    return cls


def ensure_codecs_known(codecs: Any) -> None:
    """Register what a stored codec list needs before zarr parses it: ``numcodecs.<id>`` wrappers for
    numcodecs codecs zarr does not ship (imagecodecs' HDF5-filter codecs, written by conversions), and
    imagecodecs' codecs with numcodecs. Works on v3 codec lists (nested sharding codecs too) and on v2
    compressor/filter configurations."""
    for item in as_list(codecs):
        if not isinstance(item, dict):
            continue
        name = item.get("name") or item.get("id") or ""
        if name in ("numcodecs.pickle", "pickle") and "name" in item:
            raise FormatError("refusing a pickle codec in a Zarr v3 codec list: unpickling can run code, and "
                              "no NWB Zarr v3 file stores one")
        if name.startswith("numcodecs."):
            _ensure_numcodecs_id(name[len("numcodecs."):])
            _wrapped(name[len("numcodecs."):])
        elif "id" in item:
            _ensure_numcodecs_id(name)
        inner = (item.get("configuration") or {}).get("codecs")
        if inner:
            ensure_codecs_known(inner)
            ensure_codecs_known((item.get("configuration") or {}).get("index_codecs"))


def _ensure_numcodecs_id(codec_id: str) -> None:
    import numcodecs

    if codec_id in numcodecs.registry.codec_registry or not codec_id.startswith("imagecodecs_"):
        return
    try:
        from imagecodecs.numcodecs import register_codecs
    except ImportError as err:
        raise ImportError(f"this array is compressed with {codec_id!r}, which needs imagecodecs: "
                          "pip install nwbzarr[codecs]") from err
    register_codecs(verbose=False)
