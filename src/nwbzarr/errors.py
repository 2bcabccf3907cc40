"""Exception bases shared by every layer (storage, format, backend): importing them runs up no layer."""

from __future__ import annotations


class FormatError(ValueError):
    """A store whose metadata does not follow the layout it claims."""


class WriteError(RuntimeError):
    """A dataset or group could not be written; names the object."""


class ParallelWriteError(WriteError):
    """A block of a dataset could not be written by a worker; names the dataset, carries the traceback."""
