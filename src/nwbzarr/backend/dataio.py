"""``ZarrDataIO``: per-dataset I/O settings (chunks, codecs, sharding, fill value, linking)."""

from __future__ import annotations

import warnings
from typing import Any

from hdmf.data_utils import DataIO

__all__ = ["ZarrDataIO", "hdf5_to_zarr_filters"]


class ZarrDataIO(DataIO):
    """Wrap data to choose how it is stored in Zarr.

    ``compressors``/``filters``/``serializer`` take zarr 3 codecs or numcodecs codecs (the older single
    ``compressor=`` of hdmf-zarr <= 0.13 is accepted too and stores that codec); left at None (or True, as
    in hdmf-zarr 0.14) they get nwbzarr's default (blosc-lz4 + bit shuffle); ``compressors=False`` (or ``[]``)
    stores the data uncompressed.  numcodecs filters that transform arrays (``Delta``, ``FixedScaleOffset``,
    ...) become their ``zarr.codecs.numcodecs`` counterparts.  ``shards`` (a shape, or ``"auto"`` to let
    zarr choose) turns on zarr's sharding codec; ``link_data`` links to an existing zarr array instead of
    copying it.
    """

    def __init__(
        self,
        data: Any = None,
        chunks: Any = None,
        fillvalue: Any = None,
        compressors: Any = None,
        filters: Any = None,
        serializer: Any = None,
        shards: Any = None,
        link_data: bool = False,
        compressor: Any = None,
        dtype: Any = None,
        shape: Any = None,
    ) -> None:
        if compressor is not None:
            if compressors is not None:
                raise ValueError("give either compressor= or compressors=, not both")
            compressors = compressor
        if compressors is True:  # hdmf-zarr 0.14: True means "the default codec"
            compressors = None
        if link_data and not _is_zarr_like(data):
            raise ValueError("link_data=True needs an existing zarr array (or a dataset read by nwbzarr) to link to")
        super().__init__(data=data, dtype=dtype, shape=shape)
        self.chunks = tuple(chunks) if isinstance(chunks, (list, tuple)) else chunks
        self.fillvalue = fillvalue
        self.compressors = compressors
        self.filters = filters
        self.serializer = serializer
        self.shards = _check_shards(shards, self.chunks)
        self.link_data = link_data

    @property
    def io_settings(self) -> dict[str, Any]:
        """hdmf-zarr 0.14's view: only the settings given, ``fill_value`` spelled as zarr spells it, and
        ``compressors: None`` for "no compression" (``compressors=False``)."""
        given = {"chunks": self.chunks, "fill_value": self.fillvalue, "filters": self.filters,
                 "serializer": self.serializer, "shards": self.shards}
        settings = {key: value for key, value in given.items() if value is not None}
        if self.compressors is not None:
            settings["compressors"] = None if self.compressors is False else self.compressors
        if "filters" in settings:
            settings["filters"] = list(settings["filters"])
        return settings

    def get_io_params(self) -> dict[str, Any]:
        """The settings given, for re-wrapping the same data (hdmf's export uses this)."""
        return {
            "chunks": self.chunks,
            "fillvalue": self.fillvalue,
            "compressors": self.compressors,
            "filters": self.filters,
            "serializer": self.serializer,
            "shards": self.shards,
            "link_data": self.link_data,
        }

    @staticmethod
    def from_h5py_dataset(h5dataset: Any, **kwargs: Any) -> ZarrDataIO:
        """Wrap an h5py dataset keeping its chunking, fill value and filters (mapped to Zarr codecs)."""
        compressors, filters = hdf5_to_zarr_filters(h5dataset)
        settings: dict[str, Any] = {
            "chunks": h5dataset.chunks,
            "fillvalue": h5dataset.fillvalue if h5dataset.dtype.kind in "biuf" else None,
            "compressors": compressors,
            "filters": filters,
        }
        settings.update(kwargs)
        return ZarrDataIO(data=h5dataset, **settings)

    @staticmethod
    def is_h5py_dataset(obj: Any) -> bool:
        """True for an h5py.Dataset (checked without importing h5py), as in hdmf-zarr."""
        return (type(obj).__module__, type(obj).__name__) == ("h5py._hl.dataset", "Dataset")

    @staticmethod
    def hdf5_to_zarr_filters(h5dataset: Any) -> list:
        """hdmf-zarr 0.14's shape of result: one list of zarr 3 codecs (array-to-array filters first, then
        bytes-to-bytes compressors) equivalent to the HDF5 dataset's filter pipeline.

        The module-level :func:`hdf5_to_zarr_filters` gives the same codecs as numcodecs
        ``(compressors, filters)`` instead."""
        from ..format.codec_map import to_zarr3_codecs

        compressors, filters = hdf5_to_zarr_filters(h5dataset)
        array_filters, byte_codecs = to_zarr3_codecs(filters, compressors)
        return array_filters + byte_codecs


def _check_shards(shards: Any, chunks: Any) -> tuple[int, ...] | str | None:
    """A shard shape (each axis a multiple of the chunk's) or ``"auto"``; anything else is refused."""
    if shards is None:
        return None
    if isinstance(shards, str):
        if shards != "auto":
            raise ValueError(f"shards must be a shape or 'auto', not {shards!r}")
        return shards
    shards = tuple(int(s) for s in shards)
    if isinstance(chunks, tuple):
        if len(chunks) != len(shards):
            raise ValueError(f"shards {shards} and chunks {chunks} must have the same number of dimensions")
        for axis, (s, c) in enumerate(zip(shards, chunks)):
            if s % c:
                raise ValueError(f"shards[{axis}]={s} must be a multiple of chunks[{axis}]={c}")
    return shards


def _is_zarr_like(data: Any) -> bool:
    import zarr

    from .arrays import ZarrDataset

    return isinstance(data, (zarr.Array, ZarrDataset))


# HDF5 filter ids (registered at the HDF Group)
_LZF, _BITSHUFFLE, _LZ4, _ZSTD, _BLOSC = 32000, 32008, 32004, 32015, 32001


def hdf5_to_zarr_filters(h5dataset: Any) -> tuple[list, list]:
    """(compressors, filters): numcodecs codecs equivalent to an HDF5 dataset's filter pipeline.

    Decoded data stay byte-identical.  gzip, shuffle, blosc and zstd map to numcodecs; lzf, bitshuffle
    and HDF5-framed lz4 map to imagecodecs' numcodecs codecs when imagecodecs is installed.  Filters with
    no equivalent (fletcher32 checksums, scale-offset, szip, unknown plugins) are dropped with a warning.
    """
    import numcodecs

    compressors: list = []
    filters: list = []
    plist = h5dataset.id.get_create_plist()
    itemsize = h5dataset.dtype.itemsize
    for index in range(plist.get_nfilters()):
        code, _flags, values, name = plist.get_filter(index)
        label = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
        if code == 1:  # deflate
            compressors.append(numcodecs.GZip(level=int(values[0]) if values else 4))
        elif code == 2:  # shuffle
            filters.append(numcodecs.Shuffle(elementsize=itemsize))
        elif code == 3:  # fletcher32: a checksum, nothing to decode
            warnings.warn(f"{h5dataset.name}: HDF5 fletcher32 checksum not carried over to Zarr", stacklevel=2)
        elif code == _BLOSC:
            compressors.append(_blosc_from_values(values, itemsize))
        elif code == _ZSTD:
            compressors.append(numcodecs.Zstd(level=int(values[0]) if values else 3))
        elif code in (_LZF, _BITSHUFFLE, _LZ4):
            codec = _imagecodecs_codec(code, values, itemsize)
            if codec is None:
                warnings.warn(
                    f"{h5dataset.name}: HDF5 filter {label!r} needs imagecodecs (pip install imagecodecs); "
                    "the data are stored uncompressed",
                    stacklevel=2,
                )
            elif code == _BITSHUFFLE and not (len(values) > 4 and values[4] in (2, 3)):
                filters.append(codec)
            else:
                compressors.append(codec)
        else:
            warnings.warn(
                f"{h5dataset.name}: HDF5 filter {label!r} (id {code}) has no Zarr equivalent; the data are "
                "stored without it",
                stacklevel=2,
            )
    return compressors, filters


def _blosc_from_values(values: tuple, itemsize: int) -> Any:
    import numcodecs

    names = {0: "blosclz", 1: "lz4", 2: "lz4hc", 3: "snappy", 4: "zlib", 5: "zstd"}
    clevel = int(values[4]) if len(values) > 4 else 5
    shuffle = int(values[5]) if len(values) > 5 else 1
    cname = names.get(int(values[6]) if len(values) > 6 else 0, "blosclz")
    return numcodecs.Blosc(cname=cname, clevel=clevel, shuffle=shuffle, typesize=itemsize)


def _imagecodecs_codec(code: int, values: tuple, itemsize: int) -> Any:
    """The codec for an HDF5 lzf, lz4 or bitshuffle filter. Bitshuffle compressed with lz4 or zstd (its
    cd_values[4] is 2 or 3) becomes blosc with bit shuffle and that compressor, which every Zarr reader
    decodes; the rest need imagecodecs (registered with numcodecs here and, on read, by nwbzarr)."""
    compressor = int(values[4]) if code == _BITSHUFFLE and len(values) > 4 else 0
    if compressor in (2, 3):
        import numcodecs

        clevel = int(values[5]) if compressor == 3 and len(values) > 5 else 5
        return numcodecs.Blosc(cname="lz4" if compressor == 2 else "zstd", clevel=clevel,
                               shuffle=numcodecs.Blosc.BITSHUFFLE, typesize=itemsize)
    try:
        from imagecodecs import numcodecs as icn
    except ImportError:
        return None
    icn.register_codecs(verbose=False)
    if code == _LZF:
        return icn.Lzf(header=False)
    if code == _LZ4:
        return icn.Lz4h5()
    if code == _BITSHUFFLE:
        return icn.Bitshuffle(itemsize=itemsize, blocksize=int(values[3]) if len(values) > 3 else 0)
    return None
