"""Exception bases shared by every layer (storage, format, backend): importing them runs up no layer."""

from __future__ import annotations


class FormatError(ValueError):
    """A store whose metadata does not follow the layout it claims."""
