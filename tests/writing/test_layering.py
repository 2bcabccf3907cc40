"""The writing layer sits between ``format/`` and ``backend/``: it imports only ``storage/``, ``format/``,
``nwbzarr.errors`` (and ``nwbzarr._private_api``), never ``backend/`` or a top-level module, not even lazily
or for type checking; and ``nwbzarr.parallel``/``nwbzarr.distributed`` are leaves nothing below imports."""

from __future__ import annotations

import grimp
import pytest

ALLOWED = ("nwbzarr.writing", "nwbzarr.storage", "nwbzarr.format", "nwbzarr.errors", "nwbzarr._private_api")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("nwbzarr", include_external_packages=False)


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_writing_imports_only_lower_layers(graph) -> None:
    modules = graph.find_descendants("nwbzarr.writing") | {"nwbzarr.writing"}
    assert "nwbzarr.writing.queue" in modules
    wrong = sorted((m, imported) for m in modules for imported in graph.find_modules_directly_imported_by(m)
                   if not _within(imported, ALLOWED))
    assert wrong == []


def test_no_lower_layer_reaches_the_parallel_shims(graph) -> None:
    lower = ("nwbzarr.storage", "nwbzarr.format", "nwbzarr.writing", "nwbzarr.backend", "nwbzarr.structure")
    for shim in ("nwbzarr.parallel", "nwbzarr.distributed"):
        importers = sorted(m for m in graph.find_modules_that_directly_import(shim) if _within(m, lower))
        assert importers == [], shim
