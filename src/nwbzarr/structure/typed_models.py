"""Pydantic v2 model classes generated at run time from the specs cached in a file (hdmf resolves them)."""

from __future__ import annotations

import keyword
import warnings
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, create_model

from ..backend.spec import ZarrSpecReader
from .specs import newest_specs

TEXT = {"text", "utf", "utf8", "utf-8", "ascii", "bytes", "str", "isodatetime", "datetime"}
RESERVED = set(dir(BaseModel)) | {"value", "row", "column"}


class NWBModel(BaseModel):
    """Base of every generated model: path in the file, children by name, unknown children as extras."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True, populate_by_name=True)
    _path: str = PrivateAttr(default="")
    _children: dict[str, Any] = PrivateAttr(default_factory=dict)
    _errors: list[str] = PrivateAttr(default_factory=list)  # set on the root by a non-strict read
    _source: Any = PrivateAttr(default=None)  # the open file, kept alive with the models

    @property
    def path(self) -> str:
        """Absolute path of the object in the file."""
        return self._path

    def __getitem__(self, name: str) -> Any:
        """A child (group, dataset or link target) by its name in the file."""
        try:
            return self._children[name]
        except KeyError:
            raise KeyError(f"{self._path}: no child named {name!r}") from None

    def children(self) -> dict[str, Any]:
        """Children by name (links resolved to their targets)."""
        return dict(self._children)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._path!r})"


class DatasetModel(NWBModel):
    """A dataset with attributes: ``value`` is a scalar or a lazy array."""

    value: Any = None


class DynamicTableModel(NWBModel):
    """A DynamicTable: ``len(table)`` rows, ``table[i]`` a row as a dict, ``table["col"]`` a column."""

    def __len__(self) -> int:
        ids = self._children.get("id")
        return len(ids.value) if isinstance(ids, DatasetModel) else len(ids)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(key)
        return self.row(int(key))

    def column_names(self) -> list[str]:
        """The table's ``colnames`` attribute as a list."""
        names = getattr(self, "colnames", None) or []
        return [names] if isinstance(names, str) else list(names)

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i``: ragged columns sliced through their index, region columns as target row numbers."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{self._path}: row {i} out of range for a table of {n} rows")
        i %= n
        out = {"id": _item(_values(self._children["id"]), i)}
        for name in self.column_names():
            out[name] = self._cell(name, i)
        return out

    def _cell(self, name: str, i: int) -> Any:
        index = self._children.get(f"{name}_index")
        column = self._children.get(name)
        if column is None:
            raise KeyError(f"{self._path}: column {name!r} is listed in colnames but absent")
        if index is None:
            return _item(_values(column), i)
        offsets = _values(index)
        start = int(offsets[i - 1]) if i else 0
        return _values(column)[start:int(offsets[i])]


def _values(obj: Any) -> Any:
    return obj.value if isinstance(obj, DatasetModel) else obj


def _item(values: Any, i: int) -> Any:
    value = values[i]
    return value.item() if isinstance(value, np.generic) else value


def field_name(name: str) -> str:
    """A Python identifier for a spec name that cannot shadow pydantic's own attributes."""
    safe = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    if not safe or safe[0].isdigit() or keyword.iskeyword(safe) or safe in RESERVED or safe.startswith("_"):
        safe = f"{safe.lstrip('_')}_"
    return safe


def load_catalog(specs: dict[str, dict[str, dict[str, Any]]]) -> Any:
    """An hdmf NamespaceCatalog of the newest cached version of every namespace (dependencies first)."""
    import json

    from hdmf.spec import NamespaceCatalog
    from pynwb.spec import NWBDatasetSpec, NWBGroupSpec, NWBNamespace

    catalog = NamespaceCatalog(NWBGroupSpec, NWBDatasetSpec, NWBNamespace)
    pending = newest_specs(specs)
    while pending:
        progress = False
        for ns, (version, files) in list(pending.items()):
            deps = _dependencies(files)
            if any(d in pending and d != ns for d in deps):
                continue
            texts = {stem: json.dumps(doc) for stem, doc in files.items()}
            catalog.load_namespaces("namespace", reader=ZarrSpecReader(texts, source=f"{ns}/{version}"))
            del pending[ns]
            progress = True
        if not progress:
            raise ValueError(f"cached namespaces with circular or missing dependencies: {sorted(pending)}")
    return catalog


def _dependencies(files: dict[str, Any]) -> set[str]:
    namespaces = files.get("namespace", {}).get("namespaces", [])
    return {s["namespace"] for ns in namespaces for s in ns.get("schema", []) if "namespace" in s}


def installed_catalog() -> Any:
    """pynwb's installed namespaces, for files that cache no specs."""
    from pynwb import get_type_map

    return get_type_map().namespace_catalog


class ModelFactory:
    """Generates (once) and caches one pydantic class per neurodata type of a catalog."""

    def __init__(self, catalog: Any) -> None:
        self.catalog = catalog
        self.classes: dict[str, type[NWBModel]] = {}
        self.specs: dict[str, Any] = {}
        for ns in catalog.namespaces:
            for type_name in catalog.get_namespace(ns).get_registered_types():
                self.specs.setdefault(type_name, catalog.get_spec(ns, type_name))

    def model_for(self, type_name: str | None, is_dataset: bool) -> type[NWBModel]:
        """The class of a neurodata type (generic when the type is unknown)."""
        if type_name is None or type_name not in self.specs:
            return DatasetModel if is_dataset else NWBModel
        if type_name not in self.classes:
            self.classes[type_name] = self._generate(type_name)
        return self.classes[type_name]

    def is_table(self, type_name: str | None) -> bool:
        seen = set()
        while type_name and type_name not in seen:
            if type_name == "DynamicTable":
                return True
            seen.add(type_name)
            spec = self.specs.get(type_name)
            type_name = spec.data_type_inc if spec is not None else None
        return False

    def _generate(self, type_name: str) -> type[NWBModel]:
        spec = self.specs[type_name]
        parent = spec.data_type_inc
        is_dataset = not hasattr(spec, "groups")
        if parent and parent in self.specs and parent != type_name:
            base = self.model_for(parent, is_dataset)
        else:
            base = DynamicTableModel if self.is_table(type_name) else (DatasetModel if is_dataset else NWBModel)
        if self.is_table(type_name) and not issubclass(base, DynamicTableModel):
            base = type(f"{type_name}Base", (DynamicTableModel, base), {})
        fields = {}
        for attr in spec.attributes:
            fields[field_name(attr.name)] = _attribute_field(attr)
        for child in _named_children(spec):
            required = _required(child.quantity)
            fields[field_name(child.name)] = (Any, Field(... if required else None, alias=child.name))
        with warnings.catch_warnings():  # a subtype re-declaring an inherited field is expected here
            warnings.simplefilter("ignore", UserWarning)
            return create_model(type_name, __base__=base, __doc__=(spec.doc or "")[:500], **fields)


def _named_children(spec: Any) -> list[Any]:
    out = []
    for group in ("datasets", "groups", "links"):
        out.extend(c for c in getattr(spec, group, []) if c.name)
    return out


def _required(quantity: Any) -> bool:
    return quantity in (1, "+") or (isinstance(quantity, int) and quantity >= 1)


def _attribute_field(attr: Any) -> tuple[Any, Any]:
    annotation = _python_type(attr.dtype)
    if attr.shape is not None:
        annotation = list[annotation] | annotation
    required = attr.required and attr.value is None and attr.default_value is None
    default = ... if required else (attr.value if attr.value is not None else attr.default_value)
    return annotation | None if not required else annotation, Field(default, alias=attr.name)


def _python_type(dtype: Any) -> Any:
    if not isinstance(dtype, str):
        return Any  # references and compounds: replaced by model instances after validation
    name = dtype.lower()
    if name in TEXT:
        return str
    if name.startswith(("float", "double", "number")):
        return float
    if name.startswith(("int", "uint", "long", "short")):
        return int
    if name == "bool":
        return bool
    return Any
