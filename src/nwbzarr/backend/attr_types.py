"""Unsigned-integer attributes read back with the dtype their spec gives them.

Zarr attributes are JSON, which keeps numbers but not their width or sign: an attribute written as
``np.uint32(4)`` reads back as the Python int ``4``, which hdmf's validator counts as ``int64`` and rejects for
a ``uint32`` spec (hdmf-zarr 0.14 has this problem). HDF5 keeps the type, so ``NWBHDF5IO`` gives
``np.uint32(4)``; this module gives the same, using the specs of the namespaces loaded in the IO's manager.
Signed integers and floats need nothing: every signed or float spec accepts int64 and float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hdmf.build import DatasetBuilder, GroupBuilder
from hdmf.spec import NamespaceCatalog
from hdmf.spec.spec import BaseStorageSpec

UNSIGNED = {"uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint": np.uint32,
            "uint64": np.uint64}


def type_unsigned_attributes(root: GroupBuilder, catalog: NamespaceCatalog) -> None:
    """Cast the unsigned-integer attributes of every builder under ``root`` to their spec's numpy type."""
    _TypedWalk(catalog).visit(root, None)


class _TypedWalk:
    """Walks a builder tree with the spec of each node (its own type's, else its parent spec's named child)."""

    def __init__(self, catalog: NamespaceCatalog) -> None:
        self.catalog = catalog
        self._specs: dict[tuple[str, str], BaseStorageSpec | None] = {}

    def visit(self, builder: GroupBuilder | DatasetBuilder, spec: BaseStorageSpec | None) -> None:
        spec = self._own_spec(builder) or spec
        if spec is not None:
            _cast_attributes(builder, spec)
        if not isinstance(builder, GroupBuilder):
            return
        for name, group in builder.groups.items():
            self.visit(group, spec.get_group(name) if spec is not None and hasattr(spec, "get_group") else None)
        for name, dataset in builder.datasets.items():
            self.visit(dataset, spec.get_dataset(name) if spec is not None and hasattr(spec, "get_dataset") else None)

    def _own_spec(self, builder: GroupBuilder | DatasetBuilder) -> BaseStorageSpec | None:
        ntype, namespace = builder.attributes.get("neurodata_type"), builder.attributes.get("namespace")
        if not isinstance(ntype, str) or not isinstance(namespace, str):
            return None
        key = (namespace, ntype)
        if key not in self._specs:
            try:
                self._specs[key] = self.catalog.get_spec(namespace, ntype)
            except (KeyError, ValueError):  # a namespace or type this manager does not know
                self._specs[key] = None
        return self._specs[key]


def _cast_attributes(builder: GroupBuilder | DatasetBuilder, spec: BaseStorageSpec) -> None:
    for attr_spec in spec.attributes:
        np_type = UNSIGNED.get(attr_spec.dtype) if isinstance(attr_spec.dtype, str) else None
        if np_type is not None and attr_spec.name in builder.attributes:
            value = builder.attributes[attr_spec.name]
            builder.attributes[attr_spec.name] = _as_unsigned(value, np_type)


def _as_unsigned(value: Any, np_type: type[np.unsignedinteger]) -> Any:
    """``value`` as ``np_type`` when it is a (list of) Python int(s) in range, else unchanged."""
    info = np.iinfo(np_type)
    if isinstance(value, int) and not isinstance(value, bool):
        return np_type(value) if info.min <= value <= info.max else value
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, int) and not isinstance(v, bool) and info.min <= v <= info.max for v in value):
        return np.asarray(value, dtype=np_type)
    return value
