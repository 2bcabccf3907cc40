"""Helpers that copy and edit legacy (Zarr v2) stores for tests: documents, chunks, .zmetadata."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numcodecs


def copy_store(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def read_doc(store: Path, key: str) -> Any:
    return json.loads((store / key).read_text())


def write_doc(store: Path, key: str, doc: Any) -> None:
    """Write a metadata document and keep ``.zmetadata`` in step (removed from it when ``doc`` is None)."""
    path = store / key
    meta_path = store / ".zmetadata"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    if doc is None:
        path.unlink()
        if meta is not None:
            meta["metadata"].pop(key, None)
    else:
        path.write_text(json.dumps(doc))
        if meta is not None:
            meta["metadata"][key] = doc
    if meta is not None:
        meta_path.write_text(json.dumps(meta))


def chunk_bytes(store: Path, array: str, key: str = "0") -> bytes:
    """A chunk's payload after its compressor (the object codec's bytes)."""
    zarray = read_doc(store, f"{array}/.zarray")
    raw = (store / array / key).read_bytes()
    comp = zarray.get("compressor")
    return numcodecs.get_codec(comp).decode(raw) if comp else raw


def write_chunk(store: Path, array: str, payload: bytes, key: str = "0") -> None:
    """Replace a chunk with ``payload`` compressed by the array's compressor."""
    zarray = read_doc(store, f"{array}/.zarray")
    comp = zarray.get("compressor")
    data = numcodecs.get_codec(comp).encode(payload) if comp else payload
    (store / array / key).write_bytes(bytes(data))
