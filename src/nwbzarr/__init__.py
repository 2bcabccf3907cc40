"""nwbzarr: NWB and any HDMF-based data in Zarr (zarr-python 3), on any storage, fast."""

from .backend import (
    DanglingReferenceError,
    ExternalLinkError,
    NWBZarrIO,
    ZarrDataIO,
    ZarrDataset,
    ZarrIO,
    ZarrIODataChunkIteratorQueue,
    ZarrSpecReader,
    ZarrSpecWriter,
    hdf5_to_zarr_filters,
    read_nwb,
)
from .compat import (
    IncompleteConversionError,
    NWBZarrV2IO,
    UnsafePickleCodecError,
    ZarrV2IO,
    convert_to_v3,
    is_zarr_v2_file,
)
from .format import CorruptChunkError, FormatError, InvalidNameError, ZarrReference
from .storage.errors import StoreCorruptError

__version__ = "0.1.0"

__all__ = [
    "CorruptChunkError",
    "DanglingReferenceError",
    "ExternalLinkError",
    "FormatError",
    "IncompleteConversionError",
    "InvalidNameError",
    "NWBZarrIO",
    "NWBZarrV2IO",
    "StoreCorruptError",
    "UnsafePickleCodecError",
    "ZarrDataIO",
    "ZarrDataset",
    "ZarrIO",
    "ZarrIODataChunkIteratorQueue",
    "ZarrReference",
    "ZarrSpecReader",
    "ZarrSpecWriter",
    "ZarrV2IO",
    "convert_to_v3",
    "hdf5_to_zarr_filters",
    "is_zarr_v2_file",
    "read_nwb",
]
