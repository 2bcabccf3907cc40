"""Errors of damaged storage: a file a store keeps its keys in that can no longer be read."""

from __future__ import annotations

from ..errors import FormatError  # the layer-neutral base (format.base re-exports it)


class StoreCorruptError(FormatError, OSError):
    """A store file that is damaged or truncated (a corrupt SQLite page, a truncated HDF5 container).

    Names the file and the key being read; both a ``FormatError`` and an ``OSError``.
    """
