"""One read interface over HDF5 files and Zarr stores (either layout): walk, read values, read specs."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from ..format.base import FormatError, parse_json
from ..storage.url import is_hdf5_file
from .model import Ref, Structure, StructureError


class Source(ABC):
    """An open NWB/HDMF file: its structure (walked once, no bulk data) and on-demand reads."""

    format: str = ""

    def __init__(self, location: str) -> None:
        self.location = location
        self._structure: Structure | None = None

    def structure(self, bar: Any = None) -> Structure:
        """Nodes, links and references of the whole file (computed once, then cached). ``bar``: a
        ``storage.progress`` bar the walk advances by one per object (its total grows as groups are listed)."""
        if self._structure is None:
            self._structure = self._walk(bar)
        return self._structure

    @abstractmethod
    def _walk(self, bar: Any = None) -> Structure:
        """Visit every object once, reading only attributes and reference-holding datasets."""

    @abstractmethod
    def read(self, path: str, selection: Any = ()) -> Any:
        """Values of a dataset: text as ``str``, references as ``Ref``, compounds as structured arrays."""

    @abstractmethod
    def spec_location(self) -> str | None:
        """Absolute path of the group caching the specs, or None."""

    @abstractmethod
    def close(self) -> None:
        """Release the file."""

    def spec_documents(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Cached specs as ``{namespace: {version: {file stem: parsed JSON}}}``."""
        loc = self.spec_location()
        nodes = self.structure().nodes
        if loc is None or loc not in nodes:
            return {}
        out: dict[str, dict[str, dict[str, Any]]] = {}
        prefix = loc.rstrip("/") + "/"
        for path, node in nodes.items():
            if not path.startswith(prefix) or node.kind != "dataset":
                continue
            parts = path[len(prefix):].split("/")
            if len(parts) != 3:
                continue
            ns, version, stem = parts
            out.setdefault(ns, {}).setdefault(version, {})[stem] = self._spec_json(path)
        return out

    def _spec_json(self, path: str) -> Any:
        value = self.read(path)
        if isinstance(value, np.ndarray):
            value = value.reshape(-1)[0] if value.size else ""
        if isinstance(value, (dict, list)):
            return value
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if not isinstance(value, str):
            raise StructureError(f"{self.location}: cached spec {path} is not JSON text but {type(value).__name__}")
        try:
            return parse_json(value, "JSON text")
        except FormatError as exc:
            raise StructureError(f"{self.location}: cached spec {path} is not JSON: {exc}") from exc

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"


def open_source(source: Source | str | Path) -> Source:
    """A ``Source`` for an HDF5 file or a Zarr store (detected by content); Sources pass through."""
    if isinstance(source, Source):
        return source
    if hasattr(source, "filename") and hasattr(source, "id"):  # an open h5py.File
        from .hdf5_source import HDF5Source

        return HDF5Source(source)
    if not isinstance(source, (str, Path)):
        raise TypeError(f"expected a path, URL or Source, not {type(source).__name__}")
    path = str(source)
    if "://" not in path and not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or store")
    if is_hdf5(path):
        from .hdf5_source import HDF5Source

        return HDF5Source(path)
    from .zarr_source import ZarrSource

    return ZarrSource(path)


def is_hdf5(path: str) -> bool:
    """True when ``path`` is a local HDF5 file (by signature)."""
    return is_hdf5_file(path)


def to_plain(value: Any) -> Any:
    """Attribute value as plain Python: bytes as text, numpy scalars and arrays as Python values/lists."""
    if isinstance(value, Ref):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.dtype.names:
            return [to_plain(row) for row in value.tolist()]
        return [to_plain(v) for v in value.tolist()] if value.ndim else to_plain(value[()])
    if isinstance(value, np.generic):
        return to_plain(value.item())
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


def dtype_label(dt: np.dtype, ref_fields: tuple[str, ...] = ()) -> str:
    """Writer-independent element type: numpy name, ``text``, ``reference`` or ``compound(...)``."""
    if dt.names:
        parts = []
        for name in dt.names:
            sub = "reference" if name in ref_fields else dtype_label(dt.fields[name][0])
            parts.append(f"{name}:{sub}")
        return f"compound({','.join(parts)})"
    if dt.kind in "SUOT":
        return "text"
    return "bool" if dt.kind == "b" else dt.name
