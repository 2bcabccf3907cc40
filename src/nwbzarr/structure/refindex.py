"""Who refers to an object, and what it refers to: built once, each answer in O(answer)."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from pathlib import Path

from ..storage.progress import Progress, progress_bar
from .graph import opened
from .model import Reference, Structure, StructureError
from .sources import Source


class ReferenceIndex:
    """Reverse and forward maps of every reference (and, by default, every link) in a file."""

    def __init__(self, source: Source | str | Path | Structure, links: bool = True,
                 progress: Progress = False) -> None:
        """``progress``: a bar of the objects walked (True, False, or None: when stderr is a terminal)."""
        if isinstance(source, Structure):
            structure = source
        else:
            with opened(source) as src, progress_bar(progress, "references", unit="object") as bar:
                structure = src.structure(bar)
        self.location = structure.location
        self._objects = set(structure.nodes) | {link.path for link in structure.links}
        self._incoming: dict[str, list[Reference]] = defaultdict(list)
        self._outgoing: dict[str, list[Reference]] = defaultdict(list)
        for ref in structure.references:
            self._add(ref)
        if links:
            for link in structure.links:
                self._add(Reference(link.parent, link.target, f"link:{link.name}", None, link.file))
        self._targets = sorted(self._incoming)
        self._incoming = dict(self._incoming)
        self._outgoing = dict(self._outgoing)

    def _add(self, ref: Reference) -> None:
        self._incoming[ref.target_id].append(ref)
        self._outgoing[ref.source].append(ref)

    def referrers(self, path: str, recursive: bool = False) -> list[Reference]:
        """References pointing at ``path`` (with ``recursive``, at anything inside it too)."""
        path = _norm(path)
        if not recursive:
            return list(self._incoming.get(path, ()))
        out = list(self._incoming.get(path, ()))
        prefix = path.rstrip("/") + "/"
        i = bisect_left(self._targets, prefix)
        while i < len(self._targets) and self._targets[i].startswith(prefix):
            out.extend(self._incoming[self._targets[i]])
            i += 1
        return out

    def references(self, path: str) -> list[Reference]:
        """References held by the object at ``path`` (attributes, elements, columns, links)."""
        return list(self._outgoing.get(_norm(path), ()))

    def check_object(self, path: str) -> None:
        """Raise ``StructureError`` naming ``path`` when the file holds no such object (nor a link of that name,
        nor, for ``file::/path``, any reference to it): an answer of "0 referrers" would hide a typo."""
        key = _norm(path)
        if key not in self._objects and key not in self._incoming and key not in self._outgoing:
            raise StructureError(f"{self.location}: no object {path} (give the absolute path of a group or "
                                 "dataset, as `nwbzarr info` lists them)")

    def __len__(self) -> int:
        return sum(len(v) for v in self._incoming.values())


def find_references(source: Source | str | Path, path: str, recursive: bool = False) -> list[Reference]:
    """One-shot: the references pointing at ``path`` in ``source`` (not the object itself)."""
    return ReferenceIndex(source).referrers(path, recursive=recursive)


def _norm(path: str) -> str:
    if "::" in path:
        return path
    return "/" + path.strip("/")
