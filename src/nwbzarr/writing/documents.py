"""Metadata documents of arrays being written: marked incomplete while their data are still being written
(``nwbzarr_incomplete``, see ``nwbzarr info``). Encoding and storing documents is ``format.io``'s."""

from __future__ import annotations

from ..format.attributes import INCOMPLETE_ATTR
from ..format.io import encoded_documents
from ..format.io import write_documents as put_documents

__all__ = ["INCOMPLETE_ATTR", "encoded_documents", "put_documents", "set_incomplete"]


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
