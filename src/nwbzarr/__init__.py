"""nwbzarr: NWB and any HDMF-based data in Zarr (zarr-python 3), on any storage, fast."""

from .backend import (
    DanglingReferenceError,
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
from .format import FormatError, InvalidNameError, ZarrReference

__version__ = "0.1.0"

__all__ = [
    "DanglingReferenceError",
    "FormatError",
    "InvalidNameError",
    "NWBZarrIO",
    "ZarrDataIO",
    "ZarrDataset",
    "ZarrIO",
    "ZarrIODataChunkIteratorQueue",
    "ZarrReference",
    "ZarrSpecReader",
    "ZarrSpecWriter",
    "hdf5_to_zarr_filters",
    "read_nwb",
]
