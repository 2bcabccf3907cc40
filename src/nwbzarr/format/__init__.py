"""On-disk conventions: how groups, datasets, links and references are laid out in Zarr.

One module per layout: ``v3`` (current, Zarr format 3) and ``legacy`` (hdmf-zarr <= 0.13, Zarr v2).
"""

from .base import ArraySpec, FormatError, Layout, NodeInfo, ResourceLimitError
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
    "ZarrReference",
    "detect_layout",
    "get_layout",
]
