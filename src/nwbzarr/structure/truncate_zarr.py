"""Zarr -> Zarr truncation, node by node through the store's own layout (documents resized, rows copied)."""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np

from .._private_api import sync
from ..backend.location import open_location
from ..format import ArraySpec, NodeInfo, ZarrReference
from ..storage.progress import advance, grow
from ..storage.url import is_url
from ..writing.documents import put_documents
from .model import StructureError
from .truncate_plan import TruncationPlan, plan_truncation
from .zarr_source import ZarrSource


def truncate_zarr(src: ZarrSource, target: str, n: int, overwrite: bool = False,
                  storage_options: dict | None = None, bar: Any = None) -> str:
    """Write the first ``n`` rows of every array of ``src`` into a new store (same layout) at ``target``
    (a path, or a URL opened with ``storage_options``); ``bar`` (a ``storage.progress`` bar of objects)
    counts the walk, then every object written."""
    structure = src.structure(bar)
    plan = plan_truncation(src, n)
    if overwrite and os.path.isdir(target):
        shutil.rmtree(target)
    store, _ = open_location(target, read_only=False, storage_options=storage_options)
    if overwrite and is_url(target):
        sync(store.delete_dir(""))
    layout = src.layout
    documents: dict[str, dict] = {}
    grow(bar, len(structure.nodes))
    for path, node in structure.nodes.items():
        advance(bar)
        info = src.node_info(path)
        docs = layout.documents_of(info)
        rows = plan.rows(node)
        if info.kind == "array" and rows is not None:
            layout.resize_documents(info.path, docs, (rows, *node.shape[1:]))
        documents.update(docs)
        sync(put_documents(store, docs))
        if info.kind == "array" and (rows is None or rows > 0) and 0 not in node.shape[1:]:
            _copy_values(src, store, info, docs, rows, plan, path)
    sync(put_documents(store, layout.consolidated_documents(documents)))
    store.close()
    return target


def _copy_values(src: ZarrSource, store: Any, info: NodeInfo, docs: dict[str, dict], rows: int | None,
                 plan: TruncationPlan, path: str) -> None:
    layout = src.layout
    selection = slice(0, rows) if rows is not None else ...
    try:
        values = np.asarray(sync(layout.open_array(src.store, info).getitem(selection)))
    except Exception as exc:
        raise StructureError(f"{src.location}: cannot read {path}: {exc}") from exc
    values = _rewrite(layout, info, values, plan, path)
    arr = layout.open_array_for_write(store, info.path, docs)
    sync(arr.setitem(..., values))


def _rewrite(layout: Any, info: NodeInfo, values: np.ndarray, plan: TruncationPlan, path: str) -> np.ndarray:
    """Values made consistent with the kept rows: region columns, time-series references, regions."""
    if path in plan.region_columns:
        return plan.rewrite_region(path, values)
    if path in plan.tsr_targets and values.dtype.names and {"idx_start", "count"} <= set(values.dtype.names):
        values = values.copy()
        values["idx_start"], values["count"] = plan.rewrite_tsr(path, values["idx_start"], values["count"])
        return values
    if info.is_reference and values.size:
        decoded = layout.decode_array_values(info, values)
        if any(isinstance(r, ZarrReference) and r.region is not None for r in decoded.reshape(-1)):
            clipped = np.empty(decoded.shape, dtype=object)
            for idx in np.ndindex(decoded.shape):
                clipped[idx] = _clip(plan, decoded[idx])
            return layout.encode_array_values(ArraySpec(decoded.shape, "reference"), clipped)
    return values


def _clip(plan: TruncationPlan, ref: Any) -> Any:
    if not isinstance(ref, ZarrReference) or ref.region is None or not ref.is_local:
        return ref
    target = "/" + ref.path.strip("/")
    return ZarrReference(ref.source, ref.path, ref.object_id, ref.source_object_id,
                         plan.clip_region(target, ref.region))
