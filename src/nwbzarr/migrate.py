"""Convert a store between the legacy (Zarr v2) and current (Zarr v3) layouts, node by node.

No pynwb containers or HDMF builders are involved: every group and array is read through the source
layout and written through the target one, arrays block by block (a few chunks at a time), so memory
stays bounded whatever the dataset sizes.  The result is verified: same nodes, attributes and links,
and the same checksum of every dataset's decoded values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from zarr.abc.store import Store

from ._private_api import sync
from .backend.location import open_location
from .errors import MigrationError
from .format.attributes import SPECLOC_ATTR
from .format.base import ArraySpec, FormatError, Layout, NodeInfo, json_default
from .format.corrupt import with_store
from .format.detect import detect_layout, get_layout
from .format.io import write_documents
from .format.reference import ZarrReference
from .storage.progress import Progress, progress_bar
from .writing.jobs import block_selections as aligned_blocks

BLOCK_BYTES = 32 << 20
OBJECT_ITEMSIZE = 16


@dataclass
class MigrationReport:
    """What a migration did and whether the result matched its source."""

    source: str
    target: str
    source_layout: str
    target_layout: str
    groups: int = 0
    datasets: int = 0
    bytes_read: int = 0
    verified: bool | None = None
    mismatches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def __str__(self) -> str:
        head = (f"migrated {self.source} ({self.source_layout}) -> {self.target} ({self.target_layout}): "
                f"{self.groups} groups, {self.datasets} datasets, {_human(self.bytes_read)} of data")
        if self.verified is None:
            tail = "not verified"
        elif self.ok:
            tail = "verified: same nodes, attributes, links and per-dataset checksums"
        else:
            tail = f"VERIFICATION FAILED ({len(self.mismatches)}): " + "; ".join(self.mismatches[:10])
        return "\n".join([head, tail] + [f"note: {n}" for n in self.notes])


def migrate(source: str | Path | Store, target: str | Path | Store, to: str | int | None = None, *,
            overwrite: bool = False, progress: Progress = True, verify: bool = True,
            block_bytes: int = BLOCK_BYTES) -> MigrationReport:
    """Convert ``source`` into a new store ``target`` in layout ``to`` ("v3"/"v2"; default: the other one).
    ``progress``: a bar in bytes on stderr (True: always, None: when stderr is a terminal, False: none)."""
    src_store, src_loc = open_location(source, True)
    src_layout = sync(detect_layout(src_store))
    if src_layout is None:
        raise FormatError(f"{source!r} is not a Zarr store (no zarr.json, .zgroup or .zmetadata)")
    dst_layout = get_layout(to) if to is not None else get_layout("v3" if src_layout.zarr_format == 2 else "legacy")
    _prepare_target(target, src_loc, overwrite)
    dst_store, dst_loc = open_location(target, False)
    report = MigrationReport(str(src_loc or source), str(dst_loc or target), src_layout.name, dst_layout.name)
    try:
        nodes = sync(src_layout.load_nodes(src_store))
    except FormatError as exc:
        raise with_store(exc, repr(str(src_loc or source))) from exc
    copier = _Copier(src_store, src_layout, dst_store, dst_layout, block_bytes)
    checksums = copier.run(nodes, report, progress)
    _record_manifest(dst_store, dst_layout)
    _note_relative_sources(nodes, src_loc, dst_loc, report)
    if verify:
        _verify(nodes, checksums, dst_store, dst_layout, copier, report)
    return report


def _record_manifest(store: Store, layout: Layout) -> None:
    """The chunk manifest of the migrated store (docs/format.md), as every nwbzarr write leaves one."""
    from .format.manifest import array_documents, holds_manifest, write_manifest

    if not holds_manifest(store):
        return

    sync(write_manifest(store, array_documents(sync(layout.load_nodes(store))), layout.zarr_format))


# --- target ------------------------------------------------------------------------------------
def _prepare_target(target: Any, src_loc: str | None, overwrite: bool) -> None:
    if not isinstance(target, (str, Path)) or "://" in str(target):
        return
    local = os.path.abspath(os.path.expanduser(str(target)))
    if src_loc is not None and os.path.abspath(src_loc) == local:
        raise MigrationError(f"the target {local!r} is the source itself; migrate into a new store")
    if os.path.exists(local):
        if not overwrite:
            raise FileExistsError(f"{local!r} exists; pass overwrite=True (--overwrite) to replace it")
        shutil.rmtree(local) if os.path.isdir(local) else os.remove(local)


# --- copying -------------------------------------------------------------------------------------
class _Copier:
    """Copies nodes from one layout to another, array by array and block by block."""

    def __init__(self, src: Store, src_layout: Layout, dst: Store, dst_layout: Layout, block_bytes: int) -> None:
        self.src, self.src_layout = src, src_layout
        self.dst, self.dst_layout = dst, dst_layout
        self.block_bytes = block_bytes

    def run(self, nodes: dict[str, NodeInfo], report: MigrationReport, progress: Progress) -> dict[str, str]:
        sizes = {path: self.logical_bytes(n) for path, n in sorted(nodes.items()) if n.kind == "array"}
        total = sum(sizes.values())
        documents: dict[str, dict] = {}
        checksums: dict[str, str] = {}
        with progress_bar(progress, "migrate", total=total) as bar:
            for path, node in sorted(nodes.items()):
                if node.kind == "group":
                    documents.update(self.group_documents(node))
                    report.groups += 1
                    continue
                checksums[path] = self.copy_array(node, documents, _ArrayProgress(bar, sizes[path]))
                report.datasets += 1
            report.bytes_read = total
        root_docs = {k: d for k, d in documents.items() if _is_root_key(k)}
        sync(write_documents(self.dst, {k: d for k, d in documents.items() if k not in root_docs}))
        sync(write_documents(self.dst, root_docs))
        sync(write_documents(self.dst, self.dst_layout.consolidated_documents(documents)))
        return checksums

    def group_documents(self, node: NodeInfo) -> dict[str, dict]:
        attrs = self.dst_layout.encode_attributes(dict(node.attrs), list(node.links))
        docs = self.dst_layout.group_documents(node.path, attrs)
        specloc = (node.document.get("attributes") or {}).get(SPECLOC_ATTR)
        if not node.path and specloc is not None:
            self.dst_layout.attributes_of("", docs)[SPECLOC_ATTR] = specloc
        return docs

    def spec_of(self, node: NodeInfo, array: Any) -> ArraySpec:
        dtype = native_dtype(array)
        shape = () if node.scalar_as_1d else tuple(int(s) for s in array.shape)
        chunks = () if not shape else tuple(int(c) for c in _read_chunks(array, shape))
        if dtype.names is not None:
            kind = "compound"
        elif node.is_reference:
            kind = "reference"
        elif dtype.kind in "OTSU":
            kind = "string"
        else:
            kind = "numeric"
        hdmf = node.hdmf_dtype if node.hdmf_dtype == "region_reference" else None
        return ArraySpec(shape=shape, kind=kind, dtype=dtype if kind in ("numeric", "compound") else None,
                         chunks=chunks, hdmf_dtype=hdmf, ref_fields=tuple(node.ref_fields),
                         dimension_names=dimension_names(node))

    def copy_array(self, node: NodeInfo, documents: dict[str, dict], bar: _ArrayProgress) -> str:
        where = "/" + node.path
        if getattr(node, "error", None):  # unusable metadata: copying it would leave an empty dataset
            raise MigrationError(f"dataset {where} could not be migrated: {node.error}")
        try:
            source = self.src_layout.open_array(self.src, node)
            spec = self.spec_of(node, source)
            if spec.kind == "compound":
                spec.dtype = self.compound_dtype(node, source, spec)
            attrs = self.dst_layout.encode_attributes(dict(node.attrs), [])
            docs = self.dst_layout.array_documents(node.path, spec, attrs)
            documents.update(docs)
            target = self.dst_layout.open_array_for_write(self.dst, node.path, docs)
            digest = hashlib.sha256()
            for sel in self.blocks(node, source, spec):
                values = self.read_block(node, source, sel)
                digest.update(canonical_bytes(values))
                encoded = self.dst_layout.encode_array_values(_block_spec(spec, values), values)
                sync(target.setitem(sel if spec.shape else ..., encoded))
                bar.update(_nbytes(values))
            bar.finish()
            return digest.hexdigest()
        except (FormatError, OSError, ValueError, TypeError) as exc:
            raise MigrationError(f"dataset {where} could not be migrated: {exc}") from exc

    def read_block(self, node: NodeInfo, array: Any, sel: Any) -> np.ndarray:
        raw = np.asarray(sync(array.getitem(sel)))
        if node.scalar_as_1d:
            raw = raw.reshape(-1)[0:1].reshape(())
        return self.src_layout.decode_array_values(node, raw)

    def blocks(self, node: NodeInfo, array: Any, spec: ArraySpec):
        """Selections covering the array, each a whole number of chunks of about ``block_bytes``."""
        if not spec.shape:
            yield 0 if node.scalar_as_1d else ()
            return
        yield from block_selections(spec.shape, spec.chunks, _itemsize(native_dtype(array)), self.block_bytes)

    def compound_dtype(self, node: NodeInfo, array: Any, spec: ArraySpec) -> np.dtype:
        """Text and reference fields as fixed-width text wide enough for every value (first pass)."""
        widths = {n: 0 for n in spec.dtype.names if spec.dtype.fields[n][0].kind in "OUST"}
        if not widths:
            return spec.dtype
        for sel in self.blocks(node, array, spec):
            values = self.read_block(node, array, sel)
            for name in widths:
                for v in values[name].reshape(-1):
                    widths[name] = max(widths[name], len(_field_text(v)))
        from .format.v3 import MIN_FIXED_TEXT

        return np.dtype([(n, f"<U{max(widths[n], MIN_FIXED_TEXT)}" if n in widths else spec.dtype.fields[n][0])
                         for n in spec.dtype.names])

    def logical_bytes(self, node: NodeInfo) -> int:
        """Decoded size of an array (objects counted as 16 bytes), for the progress bar."""
        try:
            array = self.src_layout.open_array(self.src, node)
            dtype = native_dtype(array)
        except (FormatError, ValueError, TypeError):
            return 0
        shape = () if node.scalar_as_1d else tuple(array.shape)
        return int(np.prod(shape)) * _itemsize(dtype)


class _ArrayProgress:
    """One array's share of the migrate bar: blocks count as read, and the array counts in full once
    copied (so the bar ends at 100% even where the decoded size differs from the estimate)."""

    def __init__(self, bar: Any, share: int) -> None:
        self.bar, self.share, self.done = bar, share, 0

    def update(self, nbytes: int) -> None:
        step = max(0, min(nbytes, self.share - self.done))
        self.done += step
        self.bar.update(step)

    def finish(self) -> None:
        self.update(self.share - self.done)


def block_selections(shape: tuple[int, ...], chunks: tuple[int, ...], itemsize: int,
                     budget: int) -> list[tuple[slice, ...]]:
    """Chunk-aligned blocks: as many chunks along the first axis as fit ``budget`` bytes, one elsewhere."""
    if any(s == 0 for s in shape):
        return []
    chunks = tuple(max(1, int(c)) for c in chunks) if len(chunks) == len(shape) else tuple(max(1, s) for s in shape)
    per_chunk = int(np.prod(chunks)) * max(1, itemsize)
    step0 = chunks[0] * max(1, budget // max(1, per_chunk))
    return aligned_blocks(shape, chunks, (step0, *chunks[1:]))


def _block_spec(spec: ArraySpec, values: np.ndarray) -> ArraySpec:
    return dataclasses.replace(spec, shape=tuple(np.shape(values)))


def _read_chunks(array: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    chunks = tuple(getattr(array, "chunks", shape) or shape)
    return chunks if len(chunks) == len(shape) else shape


def native_dtype(array: Any) -> np.dtype:
    dt = array.dtype
    if not isinstance(dt, np.dtype):
        dt = dt.to_native_dtype()
    return dt


def dimension_names(node: NodeInfo) -> list[str] | None:
    names = node.document.get("dimension_names") or (node.document.get("attributes") or {}).get("_ARRAY_DIMENSIONS")
    if not names or node.scalar_as_1d or len(names) != len(node.shape):
        return None
    return [str(n) for n in names]


def _itemsize(dtype: np.dtype) -> int:
    """Bytes per element for progress and block sizing: text, objects and references count 16."""
    if dtype.names is not None:
        return sum(_itemsize(dtype.fields[n][0]) for n in dtype.names)
    return OBJECT_ITEMSIZE if dtype.kind in "OTSU" else dtype.itemsize


def _nbytes(values: np.ndarray) -> int:
    return int(np.size(values)) * _itemsize(values.dtype)


def _field_text(value: Any) -> str:
    if isinstance(value, ZarrReference):
        return value.path if value.is_local else json.dumps({"source": value.source, "path": value.path})
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return "" if value is None else str(value)


def _is_root_key(key: str) -> bool:
    return "/" not in key


# --- checksums ---------------------------------------------------------------------------------
def canonical_bytes(values: np.ndarray) -> bytes:
    """Bytes that equal for equal decoded content in either layout (references by source and path)."""
    values = np.asarray(values)
    if values.dtype.names is None and values.dtype.kind in "biuf":
        return np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes()
    flat = values.reshape(-1)
    if values.dtype.names is not None:
        parts = [[_canonical(row[n]) for n in values.dtype.names] for row in flat]
    else:
        parts = [_canonical(v) for v in flat]
    return json.dumps([list(values.shape), parts], separators=(",", ":")).encode("utf-8")


def _canonical(value: Any) -> Any:
    if isinstance(value, ZarrReference):
        return ["ref", value.source or ".", value.path, value.region]
    if isinstance(value, dict) and "path" in value:
        return _canonical(ZarrReference.from_json(value))
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return "NaN"
    return value


# --- verification -------------------------------------------------------------------------------
def _verify(nodes: dict[str, NodeInfo], checksums: dict[str, str], store: Store, layout: Layout,
            copier: _Copier, report: MigrationReport) -> None:
    found_layout = sync(detect_layout(store))
    if found_layout is None or found_layout.name != layout.name:
        report.mismatches.append(f"the target is not in the {layout.name} layout")
        report.verified = False
        return
    written = sync(layout.load_nodes(store))
    missing = sorted(set(nodes) - set(written))
    extra = sorted(set(written) - set(nodes))
    report.mismatches += [f"node /{p} missing" for p in missing] + [f"unexpected node /{p}" for p in extra]
    reader = _Copier(store, layout, store, layout, copier.block_bytes)
    for path in sorted(set(nodes) & set(written)):
        report.mismatches += _compare_node(nodes[path], written[path], checksums.get(path), reader)
    report.verified = not report.mismatches


def _compare_node(src: NodeInfo, dst: NodeInfo, checksum: str | None, reader: _Copier) -> list[str]:
    where = "/" + src.path
    if src.kind != dst.kind:
        return [f"{where}: {src.kind} became {dst.kind}"]
    out = []
    if _canonical_json(src.attrs) != _canonical_json(dst.attrs):
        out.append(f"{where}: attributes differ")
    if sorted((n, r.source, r.path) for n, r in src.links) != sorted((n, r.source, r.path) for n, r in dst.links):
        out.append(f"{where}: links differ")
    if src.kind == "array" and checksum is not None:
        array = reader.src_layout.open_array(reader.src, dst)
        spec = reader.spec_of(dst, array)
        digest = hashlib.sha256()
        for sel in reader.blocks(dst, array, spec):
            digest.update(canonical_bytes(reader.read_block(dst, array, sel)))
        if digest.hexdigest() != checksum:
            out.append(f"{where}: data checksum differs")
    return out


def _canonical_json(attrs: dict[str, Any]) -> str:
    return json.dumps({k: _canonical(v) for k, v in attrs.items()}, sort_keys=True, default=_json_or_text)


def _json_or_text(value: Any) -> Any:
    """JSON as metadata documents spell it; anything JSON cannot hold as its text (comparison only)."""
    try:
        return json_default(value)
    except TypeError:
        return str(value)


def _note_relative_sources(nodes: dict[str, NodeInfo], src_loc: str | None, dst_loc: str | None,
                           report: MigrationReport) -> None:
    external = sorted({r.source for n in nodes.values() for _, r in n.links if not r.is_local})
    if external and src_loc and dst_loc and os.path.dirname(os.path.abspath(src_loc)) != \
            os.path.dirname(os.path.abspath(dst_loc)):
        report.notes.append(f"links to other stores ({', '.join(external)}) are relative to the store: keep the "
                            "migrated store beside its source for them to resolve")


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"

