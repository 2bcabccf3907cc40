"""What to keep when truncating: rows per dataset, with tables kept consistent (format-independent)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .model import DATASET, Node, Ref, Structure, join, parent_of
from .sources import Source

TSR_TYPES = frozenset({"TimeSeriesReferenceVectorData"})


@dataclass
class TruncationPlan:
    """Rows kept per dataset path, kept rows per table, and the values to rewrite on copy."""

    n: int
    keep: dict[str, int] = field(default_factory=dict)
    table_rows: dict[str, int] = field(default_factory=dict)
    region_columns: dict[str, str] = field(default_factory=dict)  # DynamicTableRegion -> table
    tsr_targets: dict[str, list[str | None]] = field(default_factory=dict)  # TSR column -> series per row
    links: dict[str, str] = field(default_factory=dict)  # link path -> target path (same file)

    def rows(self, node: Node) -> int | None:
        """Rows kept along the first axis of a dataset, None for scalars."""
        if not node.shape:
            return None
        return self.keep.get(node.path, min(self.n, node.shape[0]))

    def series_length(self, path: str) -> int | None:
        """Kept length of a TimeSeries group: its timestamps, else its data (links followed)."""
        for name in ("timestamps", "data"):
            child = self.links.get(join(path, name), join(path, name))
            if child in self.keep:
                return self.keep[child]
        return None

    def rewrite_region(self, path: str, values: np.ndarray) -> np.ndarray:
        """DynamicTableRegion values clamped into the rows kept in the target table."""
        rows = self.table_rows.get(self.region_columns.get(path, ""))
        if rows is None or rows == 0 or values.size == 0 or values.dtype.kind not in "iu":
            return values
        return np.minimum(values, rows - 1).astype(values.dtype)

    def rewrite_tsr(self, path: str, idx_start: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Time-series reference rows cut to the kept samples; rows left with none become (-1, -1)."""
        start, cnt = idx_start.copy(), count.copy()
        targets = self.tsr_targets.get(path, [])
        for i in range(len(start)):
            length = self.series_length(targets[i]) if i < len(targets) and targets[i] else None
            if length is None or start[i] < 0:
                continue
            if start[i] >= length:
                start[i], cnt[i] = -1, -1
            else:
                cnt[i] = min(cnt[i], length - start[i])
        return start, cnt

    def clip_region(self, target: str, region: Any) -> Any:
        """A region reference's selection cut to the rows kept in its target."""
        rows = self.keep.get(target)
        if rows is None or region is None:
            return region
        if isinstance(region, dict):
            return {"indices": [i for i in region["indices"] if i < rows]}
        first = region[0]
        stop = rows if first[1] is None else min(first[1], rows)
        return [[min(first[0], stop), stop, first[2]], *region[1:]]


def plan_truncation(src: Source, n: int) -> TruncationPlan:
    """Rows to keep: ``n`` per dataset, tables cut to ``min(n, rows)`` with ragged data following indices."""
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    structure = src.structure()
    plan = TruncationPlan(n)
    plan.links = {link.path: link.target for link in structure.links if link.file is None}
    for path, node in structure.nodes.items():
        if node.kind == DATASET and node.shape:
            plan.keep[path] = min(n, node.shape[0])
    index_target = _index_targets(structure)
    for path, node in structure.nodes.items():
        if node.kind != DATASET and "colnames" in node.attrs and join(path, "id") in structure.nodes:
            _plan_table(src, structure, plan, path, index_target)
    for path, node in structure.nodes.items():
        _plan_references(structure, plan, path, node)
    return plan


def _index_targets(structure: Structure) -> dict[str, str]:
    """VectorIndex path -> the dataset it indexes (``target`` attribute, else the name without ``_index``)."""
    out = {}
    for path, node in structure.nodes.items():
        if node.kind != DATASET or not path.endswith("_index"):
            continue
        target = node.attrs.get("target")
        if isinstance(target, Ref) and target.file is None:
            out[path] = target.path
        elif node.neurodata_type == "VectorIndex" and path[: -len("_index")] in structure.nodes:
            out[path] = path[: -len("_index")]
    return out


def _plan_table(src: Source, structure: Structure, plan: TruncationPlan, table: str,
                index_target: dict[str, str]) -> None:
    rows = plan.keep.get(join(table, "id"), 0)
    plan.table_rows[table] = rows
    indexed = set(index_target.values())
    for path, node in structure.nodes.items():
        if node.kind != DATASET or parent_of(path) != table or path in indexed or not node.shape:
            continue
        _cut(src, plan, path, min(rows, node.shape[0]), index_target)


def _cut(src: Source, plan: TruncationPlan, path: str, rows: int, index_target: dict[str, str]) -> None:
    """Keep ``rows`` of ``path``; when it is an index, keep its target up to the last kept offset."""
    seen = set()
    while path not in seen:
        seen.add(path)
        plan.keep[path] = rows
        target = index_target.get(path)
        if target is None or target not in plan.keep:
            return
        rows = _data_end(src, path, rows) if rows else 0
        rows = min(rows, src.structure().nodes[target].shape[0])
        path = target


def _data_end(src: Source, index_path: str, rows: int) -> int:
    """Where the data of the first ``rows`` rows ends: the last offset kept (or a region's stop)."""
    value = src.read(index_path, (rows - 1,))
    if isinstance(value, Ref):
        region = value.region
        if isinstance(region, dict):
            return max(region["indices"], default=-1) + 1
        return int(region[0][1]) if region else 0
    return int(value)


def _plan_references(structure: Structure, plan: TruncationPlan, path: str, node: Node) -> None:
    ntype = node.neurodata_type
    if node.kind != DATASET:
        return
    if ntype == "DynamicTableRegion" and isinstance(node.attrs.get("table"), Ref):
        plan.region_columns[path] = node.attrs["table"].path
        if parent_of(path) not in plan.table_rows:  # a region outside a table: keep it whole
            plan.keep.pop(path, None)
            if node.shape:
                plan.keep[path] = node.shape[0]
    elif ntype in TSR_TYPES or (node.dtype or "").startswith("compound(idx_start:"):
        targets: list[str | None] = [None] * (node.shape[0] if node.shape else 0)
        for ref in structure.references:
            if ref.source == path and ref.via.startswith("[") and ref.file is None:
                row = int(ref.via[1:ref.via.index("]")].split(",")[0])
                targets[row] = ref.target
        plan.tsr_targets[path] = targets
