"""Cached specifications: ``ZarrSpecWriter`` / ``ZarrSpecReader`` and the spec-cache helpers."""

from __future__ import annotations

import json
from typing import Any

from hdmf.backends.utils import NamespaceToBuilderHelper
from hdmf.spec import NamespaceBuilder, SpecReader, SpecWriter

from ..format.base import FormatError, parse_json

SPEC_LOC = "specifications"
NAMESPACE_FILE = "namespace"

SpecTexts = dict[str, dict[str, str]]
"""Cached specs as stored: ``{"<namespace>/<version>": {file stem: text}}``, every cached version."""


class ZarrSpecWriter(SpecWriter):
    """Collects specs as compact JSON text (one scalar text array each under /specifications/<ns>/<version>)."""

    def __init__(self, group: Any = None) -> None:
        self.group = group
        self.texts: dict[str, str] = {}

    @staticmethod
    def stringify(spec: Any) -> str:
        return json.dumps(spec, separators=(",", ":"))

    def write_spec(self, spec: Any, path: str) -> None:
        self.texts[path] = self.stringify(spec)

    def write_namespace(self, namespace: Any, path: str) -> None:
        self.texts[path] = self.stringify({"namespaces": [namespace]})


class ZarrSpecReader(SpecReader):
    """Reads a cached namespace from the JSON texts of one /specifications/<ns>/<version> group."""

    def __init__(self, texts: dict[str, str], source: str = "") -> None:
        super().__init__(source=source)
        self.texts = texts
        self._namespace: Any = None

    @classmethod
    def already_loaded(cls, name: str, version: str, source: str = "") -> ZarrSpecReader:
        """A stand-in for a cached namespace whose same version the catalog already holds: hdmf ignores such a
        namespace on load, so only its name and version (known from the group path) are given, nothing read."""
        namespace = {"name": name, "version": version, "schema": []}
        return cls({NAMESPACE_FILE: json.dumps({"namespaces": [namespace]})}, source=source)

    def _read(self, path: str) -> dict[str, Any]:
        """A cached spec document: JSON text holding an object (the one place cached spec text is parsed)."""
        text = self.texts.get(path)
        if text is None:
            raise KeyError(f"spec {path!r} is not cached in {self.source}")
        if not text.strip():
            raise FormatError(f"cached specification {self.source}/{path} is empty (its chunk is missing or holds no text)")
        doc = parse_json(text, f"cached specification {self.source}/{path}")
        if not isinstance(doc, dict):
            raise FormatError(f"cached specification {self.source}/{path} holds a {type(doc).__name__}, "
                              "not a JSON object")
        return doc

    def read_spec(self, spec_path: str) -> Any:
        return self._read(spec_path)

    def read_namespace(self, ns_path: str) -> Any:
        if self._namespace is None:
            doc = self._read(ns_path)
            if not isinstance(doc.get("namespaces"), list):
                raise FormatError(f"cached namespace {self.source}/{ns_path} has no 'namespaces' list")
            self._namespace = doc
        return self._namespace["namespaces"]


def spec_cache_texts(namespace_catalog: Any, skip: set[tuple[str, str]] = frozenset()) -> dict[str, dict[str, str]]:
    """``{"<ns>/<version>": {file stem: JSON text}}`` for every namespace of a catalog."""
    out: dict[str, dict[str, str]] = {}
    for ns_name in namespace_catalog.namespaces:
        namespace = namespace_catalog.get_namespace(ns_name)
        version = str(namespace.version)
        if (ns_name, version) in skip:
            continue
        builder: NamespaceBuilder = NamespaceToBuilderHelper.convert_namespace(namespace_catalog, ns_name)
        writer = ZarrSpecWriter()
        builder.export(NAMESPACE_FILE, writer=writer)
        out[f"{ns_name}/{version}"] = writer.texts
    return out


def stored_spec_texts(io: Any) -> SpecTexts:
    """Every cached version of every namespace of an open ``ZarrIO``, text exactly as stored."""
    groups = sorted({path.split("/", 1)[1] for path, node in io.nodes.items()
                     if path.startswith(SPEC_LOC + "/") and path.count("/") == 2 and node.kind == "group"})
    return {group: io._read_spec_texts(f"{SPEC_LOC}/{group}") for group in groups}


def spec_cache_groups(texts: SpecTexts) -> dict[str, dict[str, str]]:
    """Spec texts keyed by the group that holds them in a store (``specifications/<ns>/<version>``)."""
    return {f"{SPEC_LOC}/{group}": dict(files) for group, files in texts.items()}


def newest_version(versions: list[str]) -> str:
    """The semantically newest version string ('unversioned'/'None' only when nothing else exists)."""
    real = [v for v in versions if v not in ("unversioned", "None")] or list(versions)

    def key(v: str) -> tuple:
        parts = []
        for p in v.replace("-", ".").split("."):
            parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
        return tuple(parts)

    return sorted(real, key=key)[-1]
