"""Chunk-key routing for the few-files stores (their locks: ``_container_locks``).

A chunk key is mapped to ``(container file, member name)`` from the owning array's metadata, found by
walking up to its ``zarr.json`` / ``.zarray``; dots in a key are never interpreted on their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESERVED_PREFIX = "__nwbzarr"
STORE_KIND_FILE = "__nwbzarr.store"  # a container store's kind (its scheme), so its plain path opens it
LEGACY_LOCK_FILE = "__nwbzarr.lock"  # the sidecar lock of container stores written before __nwbzarr.locks/
TMP_PREFIX = "__nwbzarr_tmp."
METADATA_NAMES = ("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata")
_LAYOUT_NAMES = ("zarr.json", ".zarray", ".zgroup")  # the documents that say whether a node is an array


def is_hidden_name(name: str) -> bool:
    """True for the store's own lock and temporary files, which are never keys."""
    return name.startswith(RESERVED_PREFIX)


def check_not_reserved(key: str) -> str:
    """Reject a (well-formed) key naming one of the store's own files: those are never keys."""
    if any(is_hidden_name(p) for p in key.split("/")):
        raise ValueError(f"invalid store key {key!r}: components starting with {RESERVED_PREFIX!r} are reserved")
    return key


def _index(text: str) -> int | None:
    """Parse one canonical chunk index ('0', '17'; not '01', '+1', '-1')."""
    if text.isdigit() and text.isascii() and (text == "0" or not text.startswith("0")):
        return int(text)
    return None


@dataclass(frozen=True)
class ArrayLayout:
    """What routing needs from an array's metadata: where it is, ndim and its chunk key encoding."""

    path: str
    ndim: int
    separator: str
    v3_default: bool
    single_chunk: bool = False  # the whole array is one chunk (or one shard)

    def _rel(self, key: str) -> str | None:
        if self.path == "":
            return key
        return key[len(self.path) + 1 :] if key.startswith(self.path + "/") else None

    def parse(self, key: str) -> tuple[int, ...] | None:
        """Chunk indices of ``key`` if it is one of this array's chunk keys, else None."""
        rel = self._rel(key)
        if rel is None or self.ndim == 0:
            return None
        if self.v3_default:
            head = "c" + self.separator
            if not rel.startswith(head):
                return None
            rel = rel[len(head) :]
        parts = rel.split(self.separator)
        if len(parts) != self.ndim:
            return None
        idx = tuple(_index(p) for p in parts)
        return None if any(i is None for i in idx) else idx  # type: ignore[return-value]

    def key(self, idx: tuple[int, ...]) -> str:
        """The chunk key of chunk ``idx``."""
        body = self.separator.join(str(i) for i in idx)
        rel = ("c" + self.separator + body) if self.v3_default else body
        return f"{self.path}/{rel}" if self.path else rel


def layout_from_metadata(path: str, name: str, raw: bytes) -> ArrayLayout | str | None:
    """Parse a metadata document: an ArrayLayout, "group" for a group, None if not zarr metadata."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # the layout's reader names the problem
        return None
    if not isinstance(doc, dict):
        return None
    try:
        if name == "zarr.json":
            if doc.get("node_type") == "group":
                return "group"
            if doc.get("node_type") != "array":
                return None
            enc = doc.get("chunk_key_encoding") or {"name": "default"}
            v3_default = enc.get("name", "default") == "default"
            sep = (enc.get("configuration") or {}).get("separator", "/" if v3_default else ".")
            grid = ((doc.get("chunk_grid") or {}).get("configuration") or {}).get("chunk_shape")
            return ArrayLayout(path, len(doc["shape"]), sep, v3_default, _one_chunk(doc["shape"], grid))
        if name == ".zarray":
            sep = doc.get("dimension_separator") or "."
            return ArrayLayout(path, len(doc["shape"]), sep, False, _one_chunk(doc["shape"], doc.get("chunks")))
        if name == ".zgroup":
            return "group"
    except (KeyError, TypeError, AttributeError):
        return None
    return None


def _one_chunk(shape: Any, chunks: Any) -> bool:
    """Whether an array of ``shape`` cut into ``chunks`` is a single chunk (unknown grids: no)."""
    try:
        return len(shape) == len(chunks) and all(int(s) <= int(c) for s, c in zip(shape, chunks))
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Route:
    """Where a chunk lives when containerised: container file and member name (relative to root)."""

    key: str
    container: str
    member: str
    layout: ArrayLayout


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


class Router:
    """Maps chunk keys to containers using the owning array's metadata (cached per directory)."""

    def __init__(self, root: Path, depth: int, suffix: str) -> None:
        if not isinstance(depth, int) or depth < 2:
            raise ValueError(f"depth must be an int >= 2 (indices per container path + member), got {depth!r}")
        self.root = root
        self.depth = depth
        self.suffix = suffix
        self._nodes: dict[str, ArrayLayout | str | None] = {}

    def invalidate(self) -> None:
        """Forget cached metadata (after a metadata write or when other processes may have changed it)."""
        self._nodes.clear()

    def note_metadata(self, key: str, raw: bytes | None = None) -> None:
        """A metadata document at ``key`` was read or written: take the node's layout from ``raw`` (its
        whole content) when that decides it, else re-read the node next time."""
        dir_rel, _, name = key.rpartition("/")
        if raw is None or name not in _LAYOUT_NAMES:
            if name in _LAYOUT_NAMES:
                self._nodes.pop(dir_rel, None)
            return  # .zattrs and .zmetadata never change how chunks are routed
        earlier = _LAYOUT_NAMES[: _LAYOUT_NAMES.index(name)]
        if any((self.root / dir_rel / other).exists() for other in earlier):
            self._nodes.pop(dir_rel, None)  # a document read before this one decides: re-read
            return
        layout = layout_from_metadata(dir_rel, name, raw)
        if layout is None:
            self._nodes.pop(dir_rel, None)
        else:
            self._nodes[dir_rel] = layout

    def _node(self, dir_rel: str) -> ArrayLayout | str | None:
        """Metadata at directory ``dir_rel``: ArrayLayout, "group" or None (no zarr metadata there)."""
        if dir_rel in self._nodes:
            return self._nodes[dir_rel]
        found: ArrayLayout | str | None = None
        for name in ("zarr.json", ".zarray", ".zgroup"):
            try:
                raw = (self.root / dir_rel / name).read_bytes()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                continue
            found = layout_from_metadata(dir_rel, name, raw)
            if found is not None:
                break
        self._nodes[dir_rel] = found
        return found

    def owner(self, dir_rel: str) -> ArrayLayout | None:
        """The array whose directory is ``dir_rel`` or its nearest ancestor with metadata, if an array."""
        cached = self._cached_array_above(dir_rel)
        if cached is not None:
            return cached
        cur = dir_rel
        while True:
            node = self._node(cur)
            if node is not None:
                return node if isinstance(node, ArrayLayout) else None
            if cur == "":
                return None
            cur = cur.rpartition("/")[0]

    def _cached_array_above(self, dir_rel: str) -> ArrayLayout | None:
        """A cached array at or above ``dir_rel`` with no cached group between: nothing below an array
        is a node of its own, so its chunk directories need no probing on disk."""
        cur = dir_rel
        while True:
            node = self._nodes.get(cur)
            if isinstance(node, ArrayLayout):
                return node
            if node is not None or cur == "":
                return None  # a group: a directory below it may be an array not cached yet
            cur = cur.rpartition("/")[0]

    def route(self, key: str) -> Route | None:
        """Container and member for chunk ``key``; None if ``key`` is not a containerised chunk."""
        if key.rpartition("/")[2] in METADATA_NAMES:
            return None
        layout = self.owner(key.rpartition("/")[0])
        if layout is None:
            return None
        idx = layout.parse(key)
        if idx is None:
            return None
        n_member = min(self.depth - 1, layout.ndim)
        lead, trail = idx[: layout.ndim - n_member], idx[layout.ndim - n_member :]
        return Route(key, self._container_path(layout, lead), ".".join(map(str, trail)), layout)

    def _chunk_dir(self, layout: ArrayLayout) -> str:
        return _join(layout.path, "c") if layout.v3_default else layout.path

    def _container_path(self, layout: ArrayLayout, lead: tuple[int, ...]) -> str:
        if not lead:
            return _join(layout.path, "c" + self.suffix)
        return _join(self._chunk_dir(layout), "/".join(map(str, lead))) + self.suffix

    def container_lead(self, rel: str) -> tuple[ArrayLayout, tuple[int, ...]] | None:
        """If file ``rel`` is a container of some array: that array and the container's leading indices."""
        if not rel.endswith(self.suffix):
            return None
        layout = self.owner(rel.rpartition("/")[0])
        if layout is None or layout.ndim == 0:
            return None
        n_lead = layout.ndim - min(self.depth - 1, layout.ndim)
        if n_lead == 0:
            return (layout, ()) if rel == _join(layout.path, "c" + self.suffix) else None
        chunk_dir = self._chunk_dir(layout)
        head = chunk_dir + "/" if chunk_dir else ""
        if not rel.startswith(head):
            return None
        parts = rel[len(head) : -len(self.suffix)].split("/")
        lead = tuple(_index(p) for p in parts)
        if len(parts) != n_lead or any(i is None for i in lead):
            return None
        return layout, lead  # type: ignore[return-value]

    def member_key(self, layout: ArrayLayout, lead: tuple[int, ...], member: str) -> str | None:
        """Chunk key stored under ``member`` of the container with leading indices ``lead``."""
        n_member = min(self.depth - 1, layout.ndim)
        parts = member.split(".")
        trail = tuple(_index(p) for p in parts)
        if len(parts) != n_member or any(i is None for i in trail):
            return None
        return layout.key(lead + trail)  # type: ignore[operator]
