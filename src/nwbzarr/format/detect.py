"""Which layout a store uses, and the layout object for a name."""

from __future__ import annotations

from typing import Any

from zarr.abc.store import Store
from zarr.buffer import default_buffer_prototype

from ..storage.remote import get_value, is_remote
from .base import FormatError, Layout

_LAYOUTS: dict[str, str] = {"v3": "nwbzarr.format.v3:CurrentLayout", "legacy": "nwbzarr.format.legacy:LegacyLayout"}


def get_layout(name: str | int | None) -> Layout:
    """The layout for ``"v3"``/``3``/None (current) or ``"legacy"``/``"v2"``/``2``."""
    key = {None: "v3", 3: "v3", "3": "v3", "v3": "v3", "current": "v3",
           2: "legacy", "2": "legacy", "v2": "legacy", "legacy": "legacy"}.get(name)
    if key is None:
        raise ValueError(f"unknown layout {name!r}: use 'v3' (Zarr format 3) or 'legacy' (Zarr format 2)")
    module_name, cls_name = _LAYOUTS[key].split(":")
    try:
        module = __import__(module_name, fromlist=[cls_name])
    except ImportError as exc:  # pragma: no cover - legacy module not installed
        raise FormatError(f"the {key!r} layout is not available: {exc}") from exc
    return getattr(module, cls_name)()


async def detect_layout(store: Store, seen: dict[str, Any] | None = None) -> Layout | None:
    """The layout of an existing store, or None when the store holds no Zarr hierarchy. On a remote store
    the documents read to decide go into ``seen`` (key -> Buffer or None), for ``Layout.load_nodes`` to
    reuse: ``.zmetadata`` is asked before ``.zgroup``, so a consolidated legacy store needs no ``.zgroup``."""
    if await _present(store, "zarr.json", seen):
        return get_layout("v3")
    if await _present(store, ".zmetadata", seen) or await _present(store, ".zgroup", seen):
        return get_layout("legacy")
    return None


async def _present(store: Store, key: str, seen: dict[str, Any] | None) -> bool:
    """Whether ``key`` exists. On remote stores a read (one request, as ``exists`` is), kept in ``seen``:
    fsspec's HTTP ``exists`` answers False to any error, so a 403 or a down server would read as "not a
    Zarr store", while a read raises it with the URL and the status."""
    if is_remote(store):
        value = await get_value(store, key, default_buffer_prototype())
        if seen is not None:
            seen[key] = value
        return value is not None
    return await store.exists(key)
