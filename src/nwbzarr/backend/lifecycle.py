"""What a ``ZarrIO`` does around open and close: new stores in mode ``a``, no debris from a failed open,
reads after close, and the root ``zarr.Group`` that pynwb and other tools read as ``io._file``.

Reading after close (the deliberate choice, see docs/compatibility.md, "Behaviour notes"): ``close()``
releases every handle (files, connections); datasets read before then stay usable because the store
*reopens on demand*, read-only, the next time a lazily read dataset needs it. Writing after close fails.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import zarr
from zarr.abc.store import Store

if TYPE_CHECKING:
    from .io import ZarrIO


def local_path(path: Any) -> str | None:
    """The absolute local path that ``path`` names (plain or ``file://``), or None for URLs and Stores."""
    if isinstance(path, Store) or not isinstance(path, (str, os.PathLike)):
        return None
    text = os.fspath(path)
    if text.startswith("file://"):
        text = text[len("file://"):]
    elif "://" in text:
        return None
    return os.path.abspath(os.path.expanduser(text))


def remove_if_created_empty(local: str | None, existed_before: bool) -> None:
    """Remove the directory a failed open created, only when it did not exist before and is still empty."""
    if local is None or existed_before or not os.path.isdir(local):
        return
    try:
        os.rmdir(local)  # refuses a non-empty directory, so nothing the user put there is ever removed
    except OSError:
        pass


def read_view_after_close(store: Store, owned: bool, writable: bool) -> Store:
    """The store to read through once the IO is closed: a read-only view where the store offers one,
    so that a read after close never recreates or locks anything for writing."""
    if not owned or not writable:
        return store
    try:
        return store.with_read_only(True)
    except (NotImplementedError, AttributeError, TypeError, ValueError):
        return store  # zarr stores reopen on their next use; this one keeps its own mode


def root_group(io: ZarrIO) -> zarr.Group:
    """The root ``zarr.Group`` of an open IO (what hdmf-zarr's ``ZarrIO._file`` is).

    Read-only modes open the existing group; writable modes create an empty root group when the store
    has none yet, as hdmf-zarr does when it opens a new file.
    """
    read_only = not io.writable
    mode = "r" if read_only else "a"
    zarr_format = io.layout.zarr_format if io.layout is not None else None
    try:
        return zarr.open_group(store=io.store, mode=mode, zarr_format=zarr_format)
    except Exception:  # consolidated metadata that this zarr cannot parse: open without it
        return zarr.open_group(store=io.store, mode=mode, zarr_format=zarr_format, use_consolidated=False)


def group_source(file: Any) -> Store:
    """The store of ``file`` (a root ``zarr.Group``, as pynwb passes ``io._file``), checked."""
    if isinstance(file, zarr.Group):
        if file.path not in ("", "/"):
            raise ValueError(f"file must be the root group of a Zarr store, not the group {file.path!r}")
        return file.store
    raise TypeError(f"file must be a zarr.Group (an IO's `_file`), not {type(file).__name__}")


def end_transaction(store: Store | None, commit: bool) -> None:
    """Stores that write in transactions (Icechunk's) commit what an IO wrote when it closes, and drop it when
    a write raised: the capability is a store's ``commit_transaction`` / ``discard_transaction`` methods."""
    end = getattr(store, "commit_transaction" if commit else "discard_transaction", None)
    if callable(end):
        end()


def consolidates(store: Store) -> bool:
    """Whether consolidated metadata belongs in this store (zarr's capability flag; Icechunk says no)."""
    return bool(getattr(store, "supports_consolidated_metadata", True))
