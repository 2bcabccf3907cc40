"""Appending rows to stored datasets (HDMF's ``add_row`` on a file opened in mode ``a``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from hdmf.build import Builder
from hdmf.container import AbstractContainer

from ..format.base import ArraySpec
from ..format.reference import ZarrReference
from .write import builder_root_and_path

if TYPE_CHECKING:
    from .arrays import ZarrDataset
    from .io import ZarrIO


def append_element(io: ZarrIO, dataset: ZarrDataset, value: Any) -> None:
    """Grow ``dataset`` by one along axis 0 and store ``value`` there; rewrite its metadata document."""
    node = dataset.node
    documents = io.layout.documents_of(node)
    shape = list(dataset.shape)
    if not shape:
        raise ValueError(f"cannot append to the scalar dataset {dataset.name}")
    index = shape[0]
    shape[0] += 1
    io.layout.resize_documents(node.path, documents, tuple(shape))
    encoded = _encode(io, dataset, value)
    session = io.write_session()
    array = session.layout.open_array_for_write(session.store, node.path, documents)
    session.run_sync(array.setitem(index, encoded))
    session.put_documents(documents)
    node.document = next(iter(documents.values())) if len(documents) == 1 else node.document
    if "shape" in node.document:
        node.document["shape"] = shape
    dataset._array = io.layout.open_array(io.store, node)
    dataset._invalidate()


def _encode(io: ZarrIO, dataset: ZarrDataset, value: Any) -> Any:
    if node_is_reference(dataset):
        builder = value if isinstance(value, Builder) else _builder_of(io, value)
        if builder is None:
            raise ValueError(f"cannot append {value!r} to {dataset.name}: it has no builder (build it first)")
        ref = ZarrReference(".", builder_root_and_path(builder)[1])
        return io.layout.encode_array_values(ArraySpec(shape=(), kind="reference"), [ref])[0]
    dt = dataset.dtype
    if isinstance(dt, np.dtype) and dt.kind == "O":
        return io.layout.encode_array_values(ArraySpec(shape=(), kind="string"), [value])[0]
    return np.asarray(value, dtype=dt if isinstance(dt, np.dtype) else None)


def _builder_of(io: ZarrIO, container: Any) -> Builder | None:
    """The builder of a container, building it (from its root, so that its path is known) when it has not
    been written yet, as hdmf-zarr does; ``io.write`` later stores it where the reference points."""
    builder = io.manager.get_builder(container)
    if builder is not None or not isinstance(container, AbstractContainer):
        return builder
    root = container
    while root.parent is not None:
        root = root.parent
    io.manager.build(root)
    return io.manager.build(container)


def node_is_reference(dataset: ZarrDataset) -> bool:
    return dataset.node.is_reference
