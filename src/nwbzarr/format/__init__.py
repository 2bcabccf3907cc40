"""On-disk conventions: how groups, datasets, links and references are laid out in Zarr.

One module per layout: ``v3`` (current, Zarr format 3) and ``legacy`` (hdmf-zarr <= 0.13, Zarr v2), each
pure encoding and decoding of its documents; ``io`` reads and writes the documents in a store; ``base``
holds the contract (``Layout``, ``NodeInfo``, ``ArraySpec``, ``StoredArray``). The conventions themselves
are specified in docs/format.md.
"""

from .base import ArraySpec, FormatError, Layout, NodeInfo, ResourceLimitError, StoredArray
from .corrupt import CorruptChunkError
from .detect import detect_layout, get_layout
from .names import InvalidNameError
from .reference import ZarrReference

__all__ = [
    "ArraySpec",
    "CorruptChunkError",
    "FormatError",
    "InvalidNameError",
    "Layout",
    "NodeInfo",
    "ResourceLimitError",
    "StoredArray",
    "ZarrReference",
    "detect_layout",
    "get_layout",
]
