"""Metadata documents on their way to a store: encoded once, stored together, marked incomplete while
an array's data are still being written (``nwbzarr_incomplete``, see ``nwbzarr info``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from zarr.abc.buffer import Buffer
from zarr.abc.store import Store

from ..format.base import encode_json, to_buffer

INCOMPLETE_ATTR = "nwbzarr_incomplete"

__all__ = ["INCOMPLETE_ATTR", "encoded_documents", "put_documents", "set_incomplete"]


def encoded_documents(documents: Mapping[str, dict]) -> list[tuple[str, Buffer]]:
    """(key, JSON buffer) pairs for metadata documents, for a batch with chunks (``storage.batch.set_many``)."""
    return [(key, to_buffer(encode_json(doc))) for key, doc in documents.items()]


async def put_documents(store: Store, documents: Mapping[str, dict]) -> None:
    """Write metadata documents (key -> JSON document) into ``store``, all at once."""
    await asyncio.gather(*(store.set(key, value) for key, value in encoded_documents(documents)))


def set_incomplete(documents: dict[str, dict], incomplete: bool) -> None:
    """Add or remove the ``nwbzarr_incomplete`` attribute in an array's documents (either layout)."""
    for key, doc in documents.items():
        name = key.rsplit("/", 1)[-1]
        if name == "zarr.json":
            attrs = doc.setdefault("attributes", {})
        elif name == ".zattrs":
            attrs = doc
        else:
            continue
        if incomplete:
            attrs[INCOMPLETE_ATTR] = True
        else:
            attrs.pop(INCOMPLETE_ATTR, None)
