"""The format layer's store I/O: fetching and writing metadata documents, walking a hierarchy, fetching
single chunks in one batch.

The layouts (``v3``, ``legacy``) only encode and decode documents; whatever reads or writes the store
goes through here, as xarray keeps ``coding/`` apart from ``backends/``. Walks are parameterised by the
layout's spelling (which keys hold a node's documents, which names are documents, what is a group).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from zarr.abc.buffer import Buffer
from zarr.abc.store import Store
from zarr.buffer import default_buffer_prototype

from .._private_api import bounded_map
from ..storage.batch import get_many
from ..storage.remote import get_value, is_remote, request_limit, request_slot
from .base import check_node_depth, document_of, encode_json, to_buffer

LIST_CONCURRENCY = 64  # directory listings and document reads in flight while walking a hierarchy

NodeDocuments = dict[str, dict[str, Any]]  # one node's documents: key -> JSON object


Seen = dict[str, Any]  # key -> what a read of it gave (a Buffer, or None when absent): reads to reuse once


async def read_json(store: Store, key: str, seen: Seen | None = None) -> dict[str, Any] | None:
    """A metadata document from the store, or None when the key is absent; taken from ``seen`` when an
    earlier step of the same open already read it (``detect_layout``), so a remote open asks once."""
    if seen is not None and key in seen:
        buf = seen[key]
    else:
        buf = await get_value(store, key, default_buffer_prototype())  # remote: within the shared request limit
    if buf is None:
        return None
    return document_of(buf.to_bytes(), key)


async def read_documents(store: Store, keys: list[str]) -> NodeDocuments:
    """The documents at ``keys`` that exist (read concurrently), by key."""
    if len(keys) == 1:  # one document per node (Zarr v3): no task to schedule
        found = [await read_json(store, keys[0])]
    else:
        found = await asyncio.gather(*(read_json(store, k) for k in keys))
    return {k: d for k, d in zip(keys, found) if d is not None}


def encoded_documents(documents: Mapping[str, dict[str, Any]]) -> list[tuple[str, Buffer]]:
    """(key, JSON buffer) pairs for metadata documents, for a batch with chunks (``storage.batch.set_many``)."""
    return [(key, to_buffer(encode_json(doc))) for key, doc in documents.items()]


async def write_documents(store: Store, documents: Mapping[str, dict[str, Any]]) -> None:
    """Write metadata documents (key -> JSON object) concurrently, serialised as ``encode_json`` does; to a
    remote store at most zarr's ``async.concurrency`` at a time (a migration writes thousands at once).
    The one place nwbzarr writes metadata documents outside a chunk batch."""
    await write_encoded_documents(store, {key: encode_json(doc) for key, doc in documents.items()})


async def write_encoded_documents(store: Store, texts: Mapping[str, bytes]) -> None:
    """``write_documents`` for documents already encoded (key -> ``encode_json`` bytes)."""
    items = [(key, to_buffer(text)) for key, text in texts.items()]
    if is_remote(store):
        await bounded_map(items, store.set, limit=request_limit())
        return
    await asyncio.gather(*(store.set(key, value) for key, value in items))


async def walk_hierarchy(
    store: Store,
    node_keys: Callable[[str], list[str]],
    is_document: Callable[[str], bool],
    is_group: Callable[[str, NodeDocuments], bool],
) -> dict[str, NodeDocuments]:
    """Every node below the root (path -> its documents), found by listing groups: ``node_keys(path)``
    are the keys a node's documents may have, ``is_document(name)`` tells a document from a child node,
    ``is_group(path, documents)`` which nodes to descend into. Bounded to ``LIST_CONCURRENCY`` requests."""
    # one semaphore across the recursion (zarr's concurrent_map bounds one flat list, not a tree walk); on a
    # remote store every request also takes a slot of the shared limit (``storage.remote``), always inside
    # this one, so the two are taken in one order
    limit = asyncio.Semaphore(LIST_CONCURRENCY)
    out: dict[str, NodeDocuments] = {}

    async def documents(path: str) -> NodeDocuments:
        async with limit:
            return await read_documents(store, node_keys(path))

    async def visit(path: str) -> None:
        check_node_depth(path)
        prefix = f"{path}/" if path else ""
        async with limit, request_slot(store):
            names = [n async for n in store.list_dir(prefix)]
        children = [f"{prefix}{n}" for n in names if not is_document(n)]
        found = await asyncio.gather(*(documents(c) for c in children))
        groups = []
        for child, docs in zip(children, found):
            if not docs:
                continue
            out[child] = docs
            if is_group(child, docs):
                groups.append(child)
        await asyncio.gather(*(visit(g) for g in groups))

    await visit("")
    return out


async def read_chunks(store: Store, keys: list[str]) -> list[Buffer | None]:
    """The stored bytes of many (small) chunks in one batch (None where a chunk is absent)."""
    return await get_many(store, keys, default_buffer_prototype())
