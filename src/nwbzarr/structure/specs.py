"""The specifications cached in a file, as plain dicts by namespace and version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..backend.spec import newest_version
from .graph import opened
from .sources import Source


def read_specs_as_dicts(source: Source | str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{namespace: {version: {file stem: spec dict}}}`` for every cached version of every namespace."""
    with opened(source) as src:
        return src.spec_documents()


def newest_specs(specs: dict[str, dict[str, dict[str, Any]]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{namespace: (version, files)}`` keeping the semantically newest cached version of each."""
    return {ns: (v := newest_version(list(versions)), versions[v]) for ns, versions in specs.items() if versions}
