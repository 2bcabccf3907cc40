"""Store helpers from zarr 2, for any zarr 3 store: copy_store, rename, rmdir, getsize, listdir."""

from __future__ import annotations

import sys
from typing import Literal

from zarr import config
from zarr.abc.store import Store
from zarr.buffer import default_buffer_prototype

from nwbzarr.storage.base import dir_base

from .._private_api import concurrent_map, sync

__all__ = ["copy_store", "getsize", "listdir", "rename", "rmdir"]

IfExists = Literal["raise", "replace", "skip"]


def _norm(path: str) -> str:
    """'/a/b/' -> 'a/b'."""
    return path.strip("/")


def _join(base: str, rel: str) -> str:
    return f"{base}/{rel}" if base else rel


async def _keys_under(store: Store, path: str) -> list[str]:
    """Keys at or under path, relative to path ('' for the key path itself)."""
    path = _norm(path)
    keys = [k async for k in store.list_prefix(dir_base(path))]
    rel = [k[len(dir_base(path)) :] for k in keys]
    if path and await store.exists(path):
        rel.append("")
    return rel


async def _copy_store(
    source: Store, dest: Store, source_path: str, dest_path: str, if_exists: IfExists, dry_run: bool,
    progress: bool,
) -> tuple[int, int, int]:
    if if_exists not in ("raise", "replace", "skip"):
        raise ValueError(f"if_exists must be 'raise', 'replace' or 'skip', got {if_exists!r}")
    src, dst = _norm(source_path), _norm(dest_path)
    rels = await _keys_under(source, src)
    pairs = [(_join(src, r) if r else src, _join(dst, r) if r else dst) for r in rels]
    accepts = getattr(dest, "accepts_key", None)  # stores that hold only some keys (Icechunk: Zarr keys only)
    pairs = [(s, d) for s, d in pairs if accepts is None or accepts(d)]
    existing = {d for d, e in zip((d for _, d in pairs), [await dest.exists(d) for _, d in pairs]) if e}
    if existing and if_exists == "raise":
        raise ValueError(f"copy_store: {len(existing)} keys already exist in dest, e.g. {sorted(existing)[0]!r}")
    todo = [(s, d) for s, d in pairs if not (d in existing and if_exists == "skip")]
    counts = [0, len(pairs) - len(todo), 0]
    proto = default_buffer_prototype()

    async def copy_one(s: str, d: str) -> None:
        value = await source.get(s, proto)
        if value is None:
            return  # deleted since listing
        if not dry_run:
            await dest.set(d, value)
        counts[0] += 1
        counts[2] += len(value)
        if progress:
            print(f"copy {s} -> {d} ({len(value)} bytes)", file=sys.stderr)

    # metadata documents first, parents before children: stores such as Icechunk take a chunk only for an
    # array whose document is already there
    documents = sorted((p for p in todo if _is_document(p[1])), key=lambda p: p[1].count("/"))
    for s, d in documents:
        await copy_one(s, d)
    chunks = [p for p in todo if not _is_document(p[1])]
    await concurrent_map(chunks, copy_one, limit=config.get("async.concurrency"))
    return counts[0], counts[1], counts[2]


def _is_document(key: str) -> bool:
    return key.rsplit("/", 1)[-1] in ("zarr.json", ".zgroup", ".zarray", ".zattrs", ".zmetadata")


def copy_store(
    source: Store,
    dest: Store,
    source_path: str = "",
    dest_path: str = "",
    if_exists: IfExists = "raise",
    dry_run: bool = False,
    progress: bool = False,
) -> tuple[int, int, int]:
    """Copy every key under ``source_path`` of ``source`` to ``dest_path`` of ``dest``, byte for byte.

    ``if_exists``: 'raise' (before copying anything), 'replace' or 'skip' keys already in dest.
    Keys the destination cannot hold (its ``accepts_key`` says so, e.g. a sidecar in an Icechunk repository)
    are left out.
    Returns ``(n_copied, n_skipped, n_bytes_copied)`` as zarr 2 did; ``dry_run`` only counts.
    """
    return sync(_copy_store(source, dest, source_path, dest_path, if_exists, dry_run, progress))


async def _rename(store: Store, src: str, dst: str) -> None:
    src, dst = _norm(src), _norm(dst)
    if not src or not dst:
        raise ValueError("rename needs non-empty source and destination paths")
    if dst == src or dst.startswith(src + "/"):
        raise ValueError(f"cannot rename {src!r} into itself ({dst!r})")
    rels = await _keys_under(store, src)
    if not rels:
        raise FileNotFoundError(f"nothing to rename at {src!r}")
    await _copy_store(store, store, src, dst, "raise", False, False)
    for rel in rels:
        await store.delete(_join(src, rel) if rel else src)


def rename(store: Store, src_path: str, dst_path: str) -> None:
    """Move a key or a whole hierarchy to a new path in the same store (copy, then delete)."""
    sync(_rename(store, src_path, dst_path))


async def _rmdir(store: Store, path: str) -> None:
    path = _norm(path)
    await store.delete_dir(path)
    if path and await store.exists(path):
        await store.delete(path)


def rmdir(store: Store, path: str = "") -> None:
    """Delete everything under path ('' clears the store)."""
    sync(_rmdir(store, path))


async def _getsize(store: Store, path: str) -> int:
    path = _norm(path)
    if path and await store.exists(path):
        return await store.getsize(path)
    return await store.getsize_prefix(dir_base(path))


def getsize(store: Store, path: str = "") -> int:
    """Total bytes stored at path: one key's size, or the sum over a hierarchy."""
    return sync(_getsize(store, path))


async def _listdir(store: Store, path: str) -> list[str]:
    return sorted([k async for k in store.list_dir(_norm(path))])


def listdir(store: Store, path: str = "") -> list[str]:
    """Sorted names directly below path."""
    return sync(_listdir(store, path))
