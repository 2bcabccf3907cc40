"""``nwbzarr verify`` / ``nwbzarr manifest``: open a store by path or URL and check it against its chunk
manifest, or record one. The check itself is ``format.verify``'s (docs/format.md, "Chunk manifest")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zarr.abc.store import Store

from ._private_api import sync
from .backend.location import open_location
from .format.base import FormatError, Layout
from .format.detect import detect_layout
from .format.manifest import array_documents, write_manifest
from .format.verify import ChunkReport, dandi_zarr_checksum, verify_store

__all__ = ["ChunkReport", "dandi_zarr_checksum", "record_manifest", "verify", "verify_store"]


# --- entry points ----------------------------------------------------------------------------------------
def _open(path: str | Path | Store, read_only: bool) -> tuple[Store, Layout, str, bool]:
    store, location = open_location(path, read_only)
    layout = sync(detect_layout(store))
    if layout is None:
        if not isinstance(path, Store):
            store.close()
        raise FormatError(f"{path!r} is not a Zarr store (no zarr.json, .zgroup or .zmetadata)")
    return store, layout, str(location or path), not isinstance(path, Store)


def verify(path: str | Path | Store, checksums: bool = False) -> ChunkReport:
    """Verify the store at ``path`` against its chunk manifest (see ``ChunkReport``)."""
    store, layout, location, owned = _open(path, True)
    try:
        return sync(verify_store(store, layout, location, checksums))
    finally:
        if owned:
            store.close()


def record_manifest(path: str | Path | Store, checksums: bool = False) -> dict[str, Any]:
    """(Re)write the chunk manifest of the store at ``path`` from what it holds now; returns the document."""
    store, layout, _, owned = _open(path, False)
    try:
        nodes = sync(layout.load_nodes(store, use_consolidated=False))
        return sync(write_manifest(store, array_documents(nodes), layout.zarr_format, checksums))
    finally:
        if owned:
            store.close()
