"""The HDMF glue: builders in, builders out."""

from ..writing.queue import ZarrIODataChunkIteratorQueue
from .arrays import ZarrDataset
from .dataio import ZarrDataIO, hdf5_to_zarr_filters
from .io import DanglingReferenceError, ZarrIO
from .links import ExternalLinkError
from .nwb import NWBZarrIO, read_nwb
from .spec import ZarrSpecReader, ZarrSpecWriter

__all__ = [
    "DanglingReferenceError",
    "ExternalLinkError",
    "NWBZarrIO",
    "ZarrDataIO",
    "ZarrDataset",
    "ZarrIO",
    "ZarrIODataChunkIteratorQueue",
    "ZarrSpecReader",
    "ZarrSpecWriter",
    "hdf5_to_zarr_filters",
    "read_nwb",
]
