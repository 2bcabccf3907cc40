"""Every exception nwbzarr raises on purpose, in one hierarchy rooted at ``NwbzarrError``.

Each class also derives from the built-in exception that code written for h5py, hdmf-zarr or zarr
already catches (``ValueError`` for bad metadata, ``OSError`` for damaged bytes, ``RuntimeError`` for
failed writes), so ``except NwbzarrError`` and those older handlers both keep working. This module is
the lowest layer: every package imports it, it imports nothing of nwbzarr.
"""

from __future__ import annotations

__all__ = [
    "ChunkError",
    "ChunkSizeError",
    "CorruptChunkError",
    "DanglingReferenceError",
    "ExternalLinkError",
    "FastPathOffWarning",
    "FormatError",
    "HelperProcessLost",
    "HelperProcessWarning",
    "IcechunkConflictError",
    "InvalidNameError",
    "LegacyWarning",
    "MigrationError",
    "ModelValidationError",
    "NwbzarrError",
    "NwbzarrWarning",
    "ParallelWriteError",
    "PickleTooLargeError",
    "ResourceLimitError",
    "ServerUnavailableError",
    "StoreCorruptError",
    "StoreLockedError",
    "StructureError",
    "UnsafePickleError",
    "UnsupportedDtypeError",
    "WriteError",
]


class NwbzarrError(Exception):
    """The root of every error nwbzarr raises itself (not those of the libraries it calls)."""


# --- what is stored: metadata, chunks, names, dtypes ---------------------------------------------
class FormatError(NwbzarrError, ValueError):
    """A store whose metadata does not follow the layout it claims."""


class ResourceLimitError(FormatError):
    """A store whose metadata would exhaust the stack or memory (nesting too deep, a shape too large)."""


class CorruptChunkError(OSError, FormatError):
    """A stored chunk that its array's codecs cannot decode (garbage, truncated or written by another codec).

    Both a ``FormatError`` and an ``OSError``, so code catching either keeps working. ``OSError`` comes first
    so instances are built with its constructor: they unpickle, tblib's way (dask workers) included.
    """


class ChunkError(CorruptChunkError):
    """A stored chunk that cannot be decoded to what its array's metadata says; names store, dataset and key."""


class ChunkSizeError(FormatError):
    """A chunk that decodes (or declares it decodes) to another size than its array's metadata allows."""


class UnsafePickleError(FormatError):
    """A pickled chunk that asks for something the legacy layout never stores; nothing of it was run."""


class PickleTooLargeError(FormatError):
    """A pickled chunk that would build more than its chunk can hold; refused before allocating it."""


class StoreCorruptError(OSError, FormatError):
    """A store file that is damaged or truncated (a corrupt SQLite page, a truncated HDF5 container).

    Names the file and the key being read; both a ``FormatError`` and an ``OSError``.
    """


class InvalidNameError(NwbzarrError, ValueError):
    """An object name that cannot be stored without being renamed."""


class UnsupportedDtypeError(NwbzarrError, TypeError):
    """A dtype that no Zarr layout can store."""


# --- stores and the servers behind them ----------------------------------------------------------
class StoreLockedError(NwbzarrError, RuntimeError):
    """Another writer holds the store's writer lock (names the store, the holder and the lock file)."""


class ServerUnavailableError(NwbzarrError, ConnectionError):
    """A database server behind a store refused the connection or did not answer within the timeout."""


class IcechunkConflictError(NwbzarrError, RuntimeError):
    """Another writer committed conflicting changes to the branch while this IO was open."""


# --- reading and writing HDMF files ---------------------------------------------------------------
class ExternalLinkError(NwbzarrError, ValueError):
    """A link or reference to another store that the ``external_links`` policy does not allow."""


class DanglingReferenceError(NwbzarrError, LookupError):
    """A link or reference whose target does not exist."""


class WriteError(NwbzarrError, RuntimeError):
    """A dataset or group could not be written; names the object."""


class ParallelWriteError(WriteError):
    """A block of a dataset could not be written by a worker; names the dataset, carries the traceback."""


class HelperProcessLost(NwbzarrError, RuntimeError):
    """A helper process ended without reporting a file system error (killed, crashed): which of its work it
    did is unknown. Caught inside nwbzarr, which then does that work in the main process."""


class MigrationError(NwbzarrError, RuntimeError):
    """A migration that could not be carried out (names the node when one is at fault)."""


# --- structure tools -------------------------------------------------------------------------------
class StructureError(NwbzarrError, ValueError):
    """A file or store the structure tools cannot interpret; the message names the path."""


class ModelValidationError(StructureError):
    """An object that does not match its spec; the message names its path and type."""


# --- warnings ----------------------------------------------------------------------------------------
class NwbzarrWarning(UserWarning):
    """The root of every warning nwbzarr issues itself."""


class LegacyWarning(NwbzarrWarning):
    """A node of a legacy store that cannot be used; the rest of the store still is."""


class HelperProcessWarning(NwbzarrWarning, RuntimeWarning):
    """A helper process was lost part way; the main process did its work (slower, the same file)."""


class FastPathOffWarning(NwbzarrWarning, RuntimeWarning):
    """A fast path that depends on zarr's internals is off on the installed zarr: nwbzarr works, slower."""
