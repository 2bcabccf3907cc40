"""The import graph keeps the layers apart (docs/architecture in README): no module imports from a higher
layer, lazily or under TYPE_CHECKING, and no import cycle runs through modules of different packages."""

from __future__ import annotations

import grimp
import networkx as nx
import pytest

# Low to high. A module may import its own package and anything lower.
LAYERS = ["errors", "_private_api", "storage", "format", "writing", "backend", "structure"]
APPLICATION = "application"  # the top-level modules (cli, convert, migrate, verify, ...) and the package root


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return APPLICATION


def rank(layer: str) -> int:
    return LAYERS.index(layer) if layer in LAYERS else len(LAYERS)


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    imports = grimp.build_graph("nwbzarr", include_external_packages=False)
    edges = nx.DiGraph()
    for module in imports.modules:
        edges.add_node(module)
        for imported in imports.find_modules_directly_imported_by(module):
            edges.add_edge(module, imported)
    return edges


def test_every_layer_exists(graph: nx.DiGraph) -> None:
    present = {layer_of(m) for m in graph}
    assert set(LAYERS) <= present, f"layers without a module: {set(LAYERS) - present}"


def test_no_import_runs_up_a_layer(graph: nx.DiGraph) -> None:
    upward = [f"{a} -> {b}" for a, b in graph.edges if rank(layer_of(b)) > rank(layer_of(a))]
    assert not upward, "imports from a lower layer into a higher one:\n" + "\n".join(sorted(upward))


def test_no_cycle_between_packages(graph: nx.DiGraph) -> None:
    mixed = [sorted(scc) for scc in nx.strongly_connected_components(graph)
             if len(scc) > 1 and len({layer_of(m) for m in scc}) > 1]
    assert not mixed, f"import cycles spanning packages: {mixed}"


def test_no_cycle_inside_a_layer_package(graph: nx.DiGraph) -> None:
    """Inside storage/, format/, writing/ the modules form a DAG too: a cycle there means two modules
    that should be one, or a helper in the wrong place."""
    cycles = [sorted(scc) for scc in nx.strongly_connected_components(graph)
              if len(scc) > 1 and {layer_of(m) for m in scc} <= {"storage", "format", "writing"}]
    assert not cycles, f"import cycles: {cycles}"


def test_checker_sees_an_upward_import() -> None:
    """The contract is not vacuous: an edge storage -> backend would be reported."""
    assert rank(layer_of("nwbzarr.backend.io")) > rank(layer_of("nwbzarr.storage.base"))
    assert layer_of("nwbzarr.cli") == APPLICATION and rank(APPLICATION) > rank("structure")
