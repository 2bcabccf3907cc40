"""Object names: what Zarr and stores can hold, checked before anything is written."""

from __future__ import annotations

from ..errors import InvalidNameError

RESERVED_NAMES = {"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"}
MAX_NAME_BYTES = 255


def check_node_name(name: str, parent_path: str, local_filesystem: bool = False) -> None:
    """Raise ``InvalidNameError`` naming the object when ``name`` cannot be stored verbatim.

    Names are written as they are (non-ASCII, spaces, ``%``, ``#``, leading dots, ``__``):
    only names that a Zarr key cannot hold, or that the local file system refuses, are refused.
    """
    where = f"{parent_path.rstrip('/')}/{name}"
    if not isinstance(name, str):
        raise InvalidNameError(f"object name {name!r} under {parent_path!r} is not a string")
    if name in ("", ".", ".."):
        raise InvalidNameError(f"object name {name!r} under {parent_path!r} is not allowed in Zarr")
    if "/" in name:
        raise InvalidNameError(f"object name {name!r} at {where!r} contains '/', the Zarr path separator")
    if "\x00" in name:
        raise InvalidNameError(f"object name {name!r} at {where!r} contains a NUL character")
    if name in RESERVED_NAMES:
        raise InvalidNameError(f"object name {name!r} at {where!r} collides with a Zarr metadata document")
    if local_filesystem and len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidNameError(
            f"object name at {where!r} is {len(name.encode('utf-8'))} bytes long; "
            f"the local file system holds at most {MAX_NAME_BYTES}"
        )


def join_path(parent: str, name: str) -> str:
    """Join a node path (no leading slash, '' for the root) and a child name."""
    return f"{parent}/{name}" if parent else name

