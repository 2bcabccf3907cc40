"""Which layout a store uses, and the layout object for a name."""

from __future__ import annotations

from zarr.abc.store import Store

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


async def detect_layout(store: Store) -> Layout | None:
    """The layout of an existing store, or None when the store holds no Zarr hierarchy."""
    if await store.exists("zarr.json"):
        return get_layout("v3")
    if await store.exists(".zgroup") or await store.exists(".zmetadata"):
        return get_layout("legacy")
    return None
