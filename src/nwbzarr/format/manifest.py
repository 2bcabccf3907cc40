"""The chunk manifest: a sidecar document listing the chunk keys every array holds, written at close.

A missing chunk reads as the fill value (Zarr's rule), so only a record of what was written tells a lost chunk
from one never written. The document (``nwbzarr_manifest.json`` at the store root) is specified in
docs/format.md; it is not a Zarr node, so zarr-python and hdmf-zarr ignore it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from itertools import product
from typing import Any

from zarr.abc.store import Store
from zarr.buffer import default_buffer_prototype

from .._private_api import bounded_map
from .base import FormatError, NodeInfo
from .io import read_json, write_documents

MANIFEST_KEY = "nwbzarr_manifest.json"
MANIFEST_FORMAT = 1
LIST_PER_ARRAY_MAX = 64  # more arrays to list than this: one listing of the whole store instead
METADATA_NAMES = frozenset({"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"})


HASH_CONCURRENCY = 32  # keys read and hashed at once by md5_of_keys
@dataclass(frozen=True)
class ChunkGrid:
    """How an array's chunk keys are spelled: grid size per dimension, key prefix and separator."""

    grid: tuple[int, ...]
    prefix: str  # "c" (v3 default encoding) or "" (v2 encoding)
    separator: str

    def key(self, index: tuple[int, ...]) -> str:
        """The key of the chunk at ``index``, relative to the array (``c/0/1``, ``0.1``, ``c``, ``0``)."""
        if self.prefix:
            return self.separator.join([self.prefix, *map(str, index)])
        return self.separator.join(map(str, index)) if index else "0"

    def all_keys(self) -> list[str]:
        return [self.key(i) for i in product(*(range(n) for n in self.grid))]

    def count(self) -> int:
        return math.prod(self.grid)

    def parse(self, key: str) -> tuple[int, ...] | None:
        """The chunk index of a relative key, or None when the key is not a chunk key of this grid."""
        parts = key.split(self.separator) if key else []
        if self.prefix:
            if not parts or parts[0] != self.prefix:
                return None
            parts = parts[1:]
        elif not self.grid and key == "0":
            return ()
        if len(parts) != len(self.grid) or not all(p.isdigit() for p in parts):
            return None
        index = tuple(int(p) for p in parts)
        return index if all(i < n for i, n in zip(index, self.grid)) and key == self.key(index) else None


def holds_manifest(store: Any) -> bool:
    """Whether a store can hold the manifest, a key outside Zarr's (its ``supports_manifest``, default True)."""
    return bool(getattr(store, "supports_manifest", True))


def chunk_grid(doc: dict[str, Any], path: str) -> ChunkGrid:
    """The chunk grid of an array from its metadata document (v3 ``zarr.json`` or v2 ``.zarray``)."""
    shape = tuple(int(s) for s in doc.get("shape", ()))
    try:
        if "chunk_grid" in doc:
            chunks = doc["chunk_grid"]["configuration"]["chunk_shape"]
            encoding = doc.get("chunk_key_encoding") or {"name": "default"}
            default = encoding.get("name") == "default"
            sep = (encoding.get("configuration") or {}).get("separator", "/" if default else ".")
            prefix = "c" if default else ""
        else:
            chunks, prefix, sep = doc["chunks"], "", doc.get("dimension_separator") or "."
        grid = tuple(math.ceil(s / c) if c else 0 for s, c in zip(shape, chunks))
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise FormatError(f"array /{path}: its chunk grid cannot be read from the metadata: {exc!r}") from exc
    return ChunkGrid(grid, prefix, sep)


def chunk_keys_by_array(keys: list[str], arrays: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Stored keys split by the array they belong to (relative keys), and the keys under no array
    that are not metadata documents either (stray keys)."""
    found: dict[str, list[str]] = {p: [] for p in arrays}
    stray = []
    for key in keys:
        owner = _owning_array(key, arrays)
        if owner is None:
            if key.rsplit("/", 1)[-1] not in METADATA_NAMES and key != MANIFEST_KEY:
                stray.append(key)
            continue
        rel = key[len(owner) + 1:]
        if rel not in METADATA_NAMES:
            found[owner].append(rel)
    return found, stray


def _owning_array(key: str, arrays: set[str]) -> str | None:
    path = key
    while "/" in path:
        path = path.rsplit("/", 1)[0]
        if path in arrays:
            return path
    return None


def array_entry(grid: ChunkGrid, keys: list[str], checksums: dict[str, tuple[str, int]] | None) -> dict[str, Any]:
    """One array's manifest entry: its grid, and ``"all"`` or the sorted list of its chunk keys."""
    keys = sorted(keys)
    complete = len(keys) == grid.count() and all(grid.parse(k) is not None for k in keys)
    entry: dict[str, Any] = {"grid": list(grid.grid), "chunks": "all" if complete and keys else keys}
    if checksums is not None:
        entry["md5"] = {k: checksums[k][0] for k in keys if k in checksums}
        entry["size"] = {k: checksums[k][1] for k in keys if k in checksums}
    return entry


def recorded_keys(entry: dict[str, Any], grid: ChunkGrid) -> list[str]:
    """The chunk keys an entry records (``"all"`` expanded with the grid the entry itself records)."""
    chunks = entry.get("chunks")
    if chunks == "all":
        return ChunkGrid(tuple(entry.get("grid", grid.grid)), grid.prefix, grid.separator).all_keys()
    if not isinstance(chunks, list) or not all(isinstance(k, str) for k in chunks):
        raise FormatError(f"manifest entry has chunks of type {type(chunks).__name__}, expected 'all' or a list")
    return chunks


async def list_keys(store: Store) -> list[str]:
    """Every key of the store, through its public listing API."""
    return [k async for k in store.list_prefix("")]


async def md5_of_keys(store: Store, keys: list[str]) -> dict[str, tuple[str, int]]:
    """(md5 hex digest, size) of each key's stored bytes, as DANDI checksums each file (absent keys skipped)."""
    prototype = default_buffer_prototype()

    async def one(key: str) -> tuple[str, tuple[str, int] | None]:
        buf = await store.get(key, prototype=prototype)
        if buf is None:
            return key, None
        data = buf.to_bytes()
        return key, (hashlib.md5(data).hexdigest(), len(data))

    results = await bounded_map(((k,) for k in keys), one, limit=HASH_CONCURRENCY)
    return {k: v for k, v in results if v is not None}


def array_documents(nodes: dict[str, NodeInfo]) -> dict[str, dict[str, Any]]:
    """Each usable array's metadata document by path, from loaded nodes."""
    return {p: n.document for p, n in nodes.items() if n.kind == "array" and not getattr(n, "error", None)}


def array_documents_of_plan(documents: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """Each array's metadata document by path, from the documents a write stored (key -> document)."""
    out = {}
    for key, doc in documents.items():
        parent, _, name = key.rpartition("/")
        if (name == "zarr.json" and doc.get("node_type") == "array") or name == ".zarray":
            out[parent] = doc
    return out


async def _stored_keys(store: Store, paths: list[str]) -> dict[str, list[str]]:
    """The chunk keys stored under each array path: one listing per array when few, else one in all."""
    import asyncio

    if len(paths) > LIST_PER_ARRAY_MAX:
        return chunk_keys_by_array(await list_keys(store), set(paths))[0]

    async def one(path: str) -> list[str]:
        return [k[len(path) + 1:] async for k in store.list_prefix(f"{path}/")
                if k[len(path) + 1:] not in METADATA_NAMES]

    return dict(zip(paths, await asyncio.gather(*(one(p) for p in paths))))


async def build_manifest(store: Store, arrays: dict[str, dict[str, Any]], zarr_format: int,
                         checksums: bool = False, known: dict[str, Any] | None = None,
                         previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of ``arrays`` (path -> metadata document).

    Chunk keys come from ``known`` (path -> keys or ``"all"``, as the write plan stored them; None: unknown),
    else from ``previous`` (the manifest before this write, for arrays it did not touch and whose grid is
    unchanged), else from listing the store. With ``checksums`` every chunk is read back for its md5.
    """
    known, old = known or {}, (previous or {}).get("arrays", {})
    grids = {p: chunk_grid(doc, p) for p, doc in arrays.items()}
    keys: dict[str, list[str]] = {}
    for path, grid in grids.items():
        entry = old.get(path) if path not in known else None
        if known.get(path) is not None:
            keys[path] = grid.all_keys() if known[path] == "all" else list(known[path])
        elif isinstance(entry, dict) and entry.get("grid") == list(grid.grid):
            keys[path] = recorded_keys(entry, grid)
    keys.update(await _stored_keys(store, sorted(set(grids) - set(keys))))
    sums = None
    if checksums:
        sums = await md5_of_keys(store, [f"{p}/{k}" for p, ks in keys.items() for k in ks])
    entries = {}
    for path in sorted(grids):
        rel_sums = None if sums is None else {k: sums[f"{path}/{k}"] for k in keys[path] if f"{path}/{k}" in sums}
        entries[path] = array_entry(grids[path], keys[path], rel_sums)
    return {"nwbzarr_chunk_manifest": MANIFEST_FORMAT, "zarr_format": zarr_format, "checksums": checksums,
            "arrays": entries}


async def write_manifest(store: Store, arrays: dict[str, dict[str, Any]], zarr_format: int,
                         checksums: bool = False, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the manifest (see ``build_manifest``; the stored one stands in for untouched arrays) and store it
    under ``MANIFEST_KEY``; returns the document."""
    try:
        previous = await read_manifest(store) if known is not None else None
    except FormatError:
        previous = None
    doc = await build_manifest(store, arrays, zarr_format, checksums, known, previous)
    await write_documents(store, {MANIFEST_KEY: doc})
    return doc


async def read_manifest(store: Store) -> dict[str, Any] | None:
    """The stored manifest, or None when the store has none; a malformed one raises ``FormatError``."""
    doc = await read_json(store, MANIFEST_KEY)
    if doc is None:
        return None
    if not isinstance(doc, dict) or doc.get("nwbzarr_chunk_manifest") != MANIFEST_FORMAT \
            or not isinstance(doc.get("arrays"), dict):
        raise FormatError(f"{MANIFEST_KEY} is not an nwbzarr chunk manifest of format {MANIFEST_FORMAT}")
    return doc
