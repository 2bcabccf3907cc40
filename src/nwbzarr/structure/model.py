"""What a source reports about a file: nodes, links and references, all addressed by absolute path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import StructureError  # noqa: F401 (defined in nwbzarr.errors, re-exported here)

GROUP = "group"
DATASET = "dataset"


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference value held in an attribute or dataset: target path, optional other file and region."""

    path: str
    file: str | None = None
    region: Any = None

    def label(self) -> str:
        """The target as one string: ``/a/b`` or ``other.nwb::/a/b``."""
        return self.path if self.file is None else external_node_id(self.file, self.path)


@dataclass(slots=True)
class Node:
    """A group or dataset: path, kind, user attributes (references as ``Ref``), type and array shape."""

    path: str
    kind: str
    attrs: dict[str, Any] = field(default_factory=dict)
    shape: tuple[int, ...] | None = None
    dtype: str | None = None

    @property
    def neurodata_type(self) -> str | None:
        return text_attr(self.attrs.get("neurodata_type"))

    @property
    def namespace(self) -> str | None:
        return text_attr(self.attrs.get("namespace"))

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Link:
    """A soft link (``file`` None) or external link living at ``parent/name`` and pointing at ``target``."""

    parent: str
    name: str
    target: str
    file: str | None = None

    @property
    def path(self) -> str:
        return join(self.parent, self.name)

    @property
    def target_id(self) -> str:
        return self.target if self.file is None else external_node_id(self.file, self.target)


@dataclass(frozen=True, slots=True)
class Reference:
    """``source`` refers to ``target``; ``via`` says where (``@attr``, ``[i]``, ``[i].field``)."""

    source: str
    target: str
    via: str
    region: Any = None
    file: str | None = None

    @property
    def target_id(self) -> str:
        return self.target if self.file is None else external_node_id(self.file, self.target)


@dataclass
class Structure:
    """Everything a walk found: nodes by path, links and references in file order."""

    nodes: dict[str, Node]
    links: list[Link]
    references: list[Reference]
    location: str


def external_node_id(file: str, path: str) -> str:
    """Node id of an object in another file."""
    return f"{file}::{path}"


def join(parent: str, name: str) -> str:
    """Absolute path of ``name`` inside ``parent``."""
    return f"/{name}" if parent in ("", "/") else f"{parent}/{name}"


def parent_of(path: str) -> str:
    """Absolute path of the parent ('/' for top-level objects)."""
    head = path.rsplit("/", 1)[0]
    return head or "/"


def text_attr(value: Any) -> str | None:
    """A text attribute as ``str`` whatever the writer stored (bytes, 1-element arrays)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    try:
        items = list(value)
    except TypeError:
        return str(value)
    return text_attr(items[0]) if len(items) == 1 else None
