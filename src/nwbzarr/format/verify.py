"""Compare a store's chunks with its chunk manifest (missing, extra, altered chunks): the check behind
``nwbzarr verify`` and ``ZarrIO.verify``.

Works on every store through its public listing API, in both layouts. With ``checksums=True`` the md5 of
every chunk is compared with the one the manifest recorded, and the store's DANDI Zarr checksum is reported.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from zarr.abc.store import Store

from .base import FormatError, Layout, NodeInfo
from .manifest import (
    MANIFEST_KEY,
    chunk_grid,
    chunk_keys_by_array,
    list_keys,
    md5_of_keys,
    read_manifest,
    recorded_keys,
)

SHOWN_PER_KIND = 20


@dataclass
class ChunkReport:
    """What ``verify`` found: chunk keys missing, extra or altered, and array-level problems."""

    location: str
    arrays: int = 0
    chunks: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checksums: bool = False
    zarr_checksum: str | None = None  # DANDI's checksum of the store's keys, when checksums were computed

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.altered or self.problems)

    def __str__(self) -> str:
        what = "chunk keys and md5 checksums" if self.checksums else "chunk keys"
        lines = [f"{self.location}: {self.arrays} arrays, {self.chunks} chunks; checked {what} against "
                 f"{MANIFEST_KEY}"]
        lines += [f"problem: {p}" for p in self.problems]
        for kind, keys in (("missing", self.missing), ("extra", self.extra), ("altered", self.altered)):
            lines += [f"{kind}: {k}" for k in keys[:SHOWN_PER_KIND]]
            if len(keys) > SHOWN_PER_KIND:
                lines.append(f"{kind}: ... and {len(keys) - SHOWN_PER_KIND} more")
        if self.zarr_checksum:
            lines.append(f"DANDI zarr checksum: {self.zarr_checksum}")
        counts = f"{len(self.missing)} missing, {len(self.extra)} extra, {len(self.altered)} altered"
        lines.append("OK: every chunk matches the manifest" if self.ok else f"FAILED: {counts}, "
                     f"{len(self.problems)} other problems")
        return "\n".join(lines)


async def verify_store(store: Store, layout: Layout, location: str, checksums: bool = False) -> ChunkReport:
    """Compare every array's stored chunk keys (and md5s) with the manifest; nothing is written."""
    report = ChunkReport(location, checksums=checksums)
    manifest = await read_manifest(store)
    nodes = await layout.load_nodes(store, use_consolidated=False)
    arrays = {p: n for p, n in nodes.items() if n.kind == "array"}
    keys = await list_keys(store)
    by_array, stray = chunk_keys_by_array(keys, set(arrays))
    report.arrays, report.chunks = len(arrays), sum(len(v) for v in by_array.values())
    report.extra += stray
    if manifest is None:
        report.problems.append(f"the store has no chunk manifest ({MANIFEST_KEY}): it was not written by "
                               "nwbzarr, or the write did not finish; `nwbzarr manifest` records one")
        return report
    recorded = manifest["arrays"]
    for path in sorted(set(arrays) | set(recorded)):
        await _check_array(store, path, arrays.get(path), recorded.get(path), by_array.get(path, []), report)
    if checksums and not manifest.get("checksums"):
        report.problems.append("the manifest records no checksums, so altered chunks cannot be found: record "
                               "them with `nwbzarr manifest --checksums` (or io.manifest_checksums = True)")
    if checksums:
        report.zarr_checksum = dandi_zarr_checksum(await md5_of_keys(store, keys))
    return report


async def _check_array(store: Store, path: str, node: NodeInfo | None, entry: dict | None, present: list[str],
                       report: ChunkReport) -> None:
    where = "/" + path
    full = (lambda k: f"{path}/{k}") if path else (lambda k: k)
    if node is None:
        report.problems.append(f"array {where} is in the manifest but not in the store")
        return
    if entry is None:
        report.problems.append(f"array {where} is not in the manifest (added after it was written?)")
        report.extra += [full(k) for k in sorted(present)]
        return
    try:
        grid = chunk_grid(node.document, path)
        expected = recorded_keys(entry, grid)
    except FormatError as exc:
        report.problems.append(f"array {where}: {exc}")
        return
    if list(entry.get("grid", [])) != list(grid.grid):
        report.problems.append(f"array {where}: chunk grid {list(grid.grid)} differs from the manifest's "
                               f"{entry.get('grid')} (shape or chunks changed after it was written)")
    have, want = set(present), set(expected)
    report.missing += [full(k) for k in sorted(want - have)]
    report.extra += [full(k) for k in sorted(have - want)]
    if report.checksums and isinstance(entry.get("md5"), dict):
        await _check_md5(store, sorted(have & want), entry["md5"], full, report)


async def _check_md5(store: Store, keys: list[str], recorded: dict[str, str], full: Any,
                     report: ChunkReport) -> None:
    sums = await md5_of_keys(store, [full(k) for k in keys if k in recorded])
    for key in keys:
        got = sums.get(full(key))
        if key in recorded and got is not None and got[0] != recorded[key]:
            report.altered.append(full(key))


# --- DANDI's Zarr checksum -------------------------------------------------------------------------------
def dandi_zarr_checksum(files: dict[str, tuple[str, int]]) -> str:
    """DANDI's checksum of a Zarr tree, ``"<md5>-<count>--<size>"``, from each key's (md5, size).

    Each directory hashes the compact JSON ``{"directories": [...], "files": [...]}`` of its entries
    (``{"digest", "name", "size"}``, sorted by name); a directory's digest carries its file count and size.
    """
    tree: dict[str, Any] = {}
    for key, (md5, size) in files.items():
        *dirs, name = key.split("/")
        node = tree
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = (md5, size)
    return _directory_digest(tree)[0]


def _directory_digest(tree: dict[str, Any]) -> tuple[str, int, int]:
    files, directories, count, size = [], [], 0, 0
    for name in sorted(tree):
        value = tree[name]
        if isinstance(value, dict):
            digest, sub_count, sub_size = _directory_digest(value)
            directories.append({"digest": digest, "name": name, "size": sub_size})
            count, size = count + sub_count, size + sub_size
        else:
            files.append({"digest": value[0], "name": name, "size": value[1]})
            count, size = count + 1, size + value[1]
    text = json.dumps({"directories": directories, "files": files}, separators=(",", ":"))
    return f"{hashlib.md5(text.encode('utf-8')).hexdigest()}-{count}--{size}", count, size
