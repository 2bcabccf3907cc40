"""nwbzarr: NWB and any HDMF-based data in Zarr (zarr-python 3), on any storage, fast."""

from . import errors
from .backend import (
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
from .errors import *  # noqa: F403 (every exception and warning class, rooted at NwbzarrError)
from .format import ZarrReference

__version__ = "0.1.0"

__all__ = [*errors.__all__,
    "IncompleteConversionError",
    "NWBZarrIO",
    "NWBZarrV2IO",
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
