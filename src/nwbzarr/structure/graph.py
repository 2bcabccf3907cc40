"""The dependency graph of a file: ownership (child), soft/external links (link) and references."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import networkx as nx

from ..storage.progress import Progress, progress_bar
from .model import Ref, Structure, parent_of
from .sources import Source, open_source

CHILD, LINK, REFERENCE = "child", "link", "reference"
_PRIORITY = {CHILD: 0, LINK: 1, REFERENCE: 2}


@contextmanager
def opened(source: Source | str | Path) -> Iterator[Source]:
    """A Source for ``source``, closed afterwards only when it was opened here."""
    src = open_source(source)
    try:
        yield src
    finally:
        if src is not source:
            src.close()


def dependency_graph(source: Source | str | Path, include_specifications: bool = False,
                     progress: Progress = False) -> nx.DiGraph:
    """Graph of every object: nodes are absolute paths; edges labelled child, link or reference.
    ``progress``: a bar of objects walked, on stderr (True, False, or None: when stderr is a terminal)."""
    with opened(source) as src, progress_bar(progress, "graph", unit="object") as bar:
        structure = src.structure(bar)
        spec_loc = None if include_specifications else src.spec_location()
        return graph_of(structure, spec_loc)


def graph_of(structure: Structure, skip_prefix: str | None = None) -> nx.DiGraph:
    """Build the graph from a walked structure, leaving out the subtree at ``skip_prefix``."""
    skip = _skipper(skip_prefix)
    g = nx.DiGraph(location=structure.location)
    for path, node in structure.nodes.items():
        if skip(path):
            continue
        g.add_node(path, kind=node.kind, neurodata_type=node.neurodata_type, namespace=node.namespace,
                   shape=list(node.shape) if node.shape is not None else None, dtype=node.dtype,
                   attrs=json_safe(node.attrs))
        if path != "/":
            _add_edge(g, parent_of(path), path, CHILD)
    for link in structure.links:
        if skip(link.parent):
            continue
        _ensure_target(g, link.target_id, link.target, link.file)
        _add_edge(g, link.parent, link.target_id, LINK, name=link.name)
    for ref in structure.references:
        if skip(ref.source):
            continue
        _ensure_target(g, ref.target_id, ref.target, ref.file)
        _add_edge(g, ref.source, ref.target_id, REFERENCE, via=ref.via, region=ref.region)
    return g


def _skipper(prefix: str | None):
    if not prefix:
        return lambda path: False
    return lambda path: path == prefix or path.startswith(prefix + "/")


def _ensure_target(g: nx.DiGraph, node_id: str, path: str, file: str | None) -> None:
    if node_id in g:
        return
    if file is not None:
        g.add_node(node_id, kind="external", file=file, path=path, neurodata_type=None)
    else:
        g.add_node(node_id, kind="missing", path=path, neurodata_type=None)


def _add_edge(g: nx.DiGraph, u: str, v: str, label: str, via: str | None = None, region: Any = None,
              name: str | None = None) -> None:
    """Add or extend an edge; one DiGraph edge per pair keeps the strongest label and all references."""
    data = g.get_edge_data(u, v)
    if data is None:
        g.add_edge(u, v, label=label)
        data = g.edges[u, v]
    elif _PRIORITY[label] < _PRIORITY[data["label"]]:
        data["label"] = label
    if name is not None:
        data["name"] = name
    if label == REFERENCE:
        data.setdefault("refs", []).append({"via": via, "region": region} if region is not None else {"via": via})


def filter_dependency_graph(g: nx.DiGraph) -> nx.DiGraph:
    """A copy without untyped leaves (no outgoing edges) and without VectorIndex nodes."""
    drop = [n for n, d in g.nodes(data=True)
            if d.get("neurodata_type") == "VectorIndex"
            or (d.get("neurodata_type") is None and g.out_degree(n) == 0 and d.get("kind") != "external")]
    out = g.copy()
    out.remove_nodes_from(drop)
    return out


def json_safe(value: Any) -> Any:
    """Attributes as JSON values: references become their target path."""
    if isinstance(value, Ref):
        return value.label()
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and value != value:
        return "NaN"
    return value


# --- export ------------------------------------------------------------------------------------
def to_json(g: nx.DiGraph) -> str:
    """Node-link JSON of the graph."""
    return json.dumps(nx.node_link_data(g, edges="edges"), indent=1, default=str)


def to_graphml(g: nx.DiGraph, path: Any) -> None:
    """GraphML (non-scalar values written as JSON text, as GraphML only holds scalars)."""
    flat = nx.DiGraph()
    flat.add_nodes_from((n, _scalars(d)) for n, d in g.nodes(data=True))
    flat.add_edges_from((u, v, _scalars(d)) for u, v, d in g.edges(data=True))
    nx.write_graphml(flat, str(path) if isinstance(path, (str, Path)) else path)


def _scalars(data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in data.items():
        if v is None:
            continue
        out[k] = v if isinstance(v, (str, int, float, bool)) else json.dumps(v, default=str)
    return out


def to_dot(g: nx.DiGraph) -> str:
    """Graphviz DOT text (no pydot needed)."""
    lines = ["digraph nwb {", "  rankdir=LR;"]
    for n, d in g.nodes(data=True):
        label = n if not d.get("neurodata_type") else f"{n}\\n({d['neurodata_type']})"
        shape = "box" if d.get("kind") == "group" else "ellipse"
        lines.append(f"  {_q(n)} [label={_q(label)}, shape={shape}];")
    styles = {CHILD: "solid", LINK: "dashed", REFERENCE: "dotted"}
    for u, v, d in g.edges(data=True):
        lines.append(f"  {_q(u)} -> {_q(v)} [label={_q(d['label'])}, style={styles[d['label']]}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n") + '"'


def plot_graph(g: nx.DiGraph, out: str | Path) -> None:
    """Draw the typed-object graph to an image (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("plotting needs matplotlib: pip install matplotlib") from exc
    typed = filter_dependency_graph(g)
    pos = nx.spring_layout(typed, seed=1, k=1.5 / max(1, len(typed)) ** 0.5)
    fig, ax = plt.subplots(figsize=(14, 10))
    colors = {CHILD: "#888888", LINK: "#1f77b4", REFERENCE: "#d62728"}
    for label, color in colors.items():
        edges = [(u, v) for u, v, d in typed.edges(data=True) if d["label"] == label]
        nx.draw_networkx_edges(typed, pos, edgelist=edges, edge_color=color, ax=ax, arrows=True,
                               style="solid" if label == CHILD else "dashed")
    nx.draw_networkx_nodes(typed, pos, node_size=60, ax=ax)
    labels = {n: d.get("neurodata_type") or n.rsplit("/", 1)[-1] or "/" for n, d in typed.nodes(data=True)}
    nx.draw_networkx_labels(typed, pos, labels=labels, font_size=7, ax=ax)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(str(out), dpi=120)
    plt.close(fig)
