"""Errors of damaged storage: a file a store keeps its keys in that can no longer be read."""

from __future__ import annotations

from ..errors import (
    StoreCorruptError,  # noqa: F401 (defined in nwbzarr.errors, re-exported here)
)


