"""``read_models``: a file as validated pydantic objects (lazy arrays, references as model instances)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..errors import ModelValidationError
from .model import DATASET, Node, Ref, parent_of
from .sources import Source, open_source, to_plain
from .typed_models import DatasetModel, ModelFactory, NWBModel, field_name, installed_catalog, load_catalog


class LazyArray:
    """A dataset read on demand through the already-open source (no reopening per slice)."""

    def __init__(self, source: Source, node: Node) -> None:
        self.source, self.path = source, node.path
        self.shape, self.dtype = tuple(node.shape or ()), node.dtype

    def __getitem__(self, selection: Any) -> Any:
        return self.source.read(self.path, selection if isinstance(selection, tuple) else (selection,))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = np.asarray(self.source.read(self.path))
        return values.astype(dtype) if dtype is not None else values

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 1

    def summary(self) -> dict[str, Any]:
        """What ``to_json`` writes instead of the values."""
        return {"path": self.path, "shape": list(self.shape), "dtype": self.dtype}

    def __repr__(self) -> str:
        return f"LazyArray({self.path!r}, shape={self.shape}, dtype={self.dtype!r})"


def read_models(source: Source | str | Path, strict: bool = True) -> NWBModel:
    """The root object of the file, models generated from the file's cached specs.

    With ``strict`` (default) the first object that fails validation raises ``ModelValidationError``
    naming its path; otherwise it is built unvalidated and its error listed in ``validation_errors``.
    """
    src = open_source(source)
    return _Reader(src, factory_for(src.spec_documents()), strict).read()


_FACTORIES: dict[str, ModelFactory] = {}


def factory_for(specs: dict[str, Any]) -> ModelFactory:
    """One model factory per distinct set of cached specs (generation is the slow part of a read)."""
    key = hashlib.sha256(json.dumps(specs, sort_keys=True).encode()).hexdigest()
    if key not in _FACTORIES:
        _FACTORIES[key] = ModelFactory(load_catalog(specs) if specs else installed_catalog())
    return _FACTORIES[key]


def validation_errors(root: NWBModel) -> list[str]:
    """The validation errors collected by a non-strict ``read_models``."""
    return list(root._errors)


class _Reader:
    def __init__(self, src: Source, factory: ModelFactory, strict: bool) -> None:
        self.src, self.factory, self.strict = src, factory, strict
        self.structure = src.structure()
        self.children: dict[str, list[str]] = defaultdict(list)
        spec_loc = src.spec_location()
        for path in self.structure.nodes:
            if path != "/" and not (spec_loc and (path == spec_loc or path.startswith(spec_loc + "/"))):
                self.children[parent_of(path)].append(path)
        self.links = defaultdict(list)
        for link in self.structure.links:
            self.links[link.parent].append(link)
        self.instances: dict[str, NWBModel] = {}
        self.fixups: list[tuple[NWBModel, str, Any]] = []
        self.errors: list[str] = []

    def read(self) -> NWBModel:
        root = self.build("/")
        for obj, key, value in self.fixups:
            resolved = self.resolve(value)
            setattr(obj, key, resolved)
            if key in obj._children or isinstance(value, _LinkTarget):
                obj._children[key] = resolved
        root._errors = self.errors
        root._source = self.src
        return root

    def resolve(self, value: Any) -> Any:
        if isinstance(value, _LinkTarget):
            return self.instances.get(value.path, value.path if value.file is None else f"{value.file}::{value.path}")
        if isinstance(value, Ref):
            return self.instances.get(value.path, value.label()) if value.file is None else value.label()
        if isinstance(value, np.ndarray) and value.dtype.names:
            return [{n: self.resolve(row[n]) for n in value.dtype.names} for row in value]
        if isinstance(value, (list, np.ndarray)):
            return [self.resolve(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        return value

    def build(self, path: str) -> Any:
        node = self.structure.nodes[path]
        if node.kind == DATASET and not self._needs_model(node):
            return self.dataset_value(node)
        cls = self.factory.model_for(node.neurodata_type, node.kind == DATASET)
        data, refs = self.attributes(node, cls)
        kids: dict[str, Any] = {}
        for child in self.children.get(path, []):
            kids[child.rsplit("/", 1)[1]] = self.build(child)
        for link in self.links.get(path, []):
            kids[link.name] = _LinkTarget(link.target, link.file)
        for name, value in kids.items():
            data[_key(cls, name)] = value
        if node.kind == DATASET:
            data["value"] = self.dataset_value(node)
        obj = self.validate(cls, data, node)
        obj._path = path
        obj._children = dict(kids.items())
        self.instances[path] = obj
        for key, value in list(refs.items()) + [(n, v) for n, v in kids.items() if isinstance(v, _LinkTarget)]:
            self.fixups.append((obj, _attr_name(cls, key), value))
        if node.kind == DATASET and (node.dtype in ("reference", "region_reference") or "reference" in (node.dtype or "")):
            self.fixups.append((obj, "value", obj.value))
        return obj

    def _needs_model(self, node: Node) -> bool:
        return bool(node.neurodata_type) or any(k not in ("object_id",) for k in node.attrs)

    def attributes(self, node: Node, cls: type[NWBModel]) -> tuple[dict[str, Any], dict[str, Any]]:
        data, refs = {}, {}
        for name, value in node.attrs.items():
            key = _key(cls, name)
            if isinstance(value, Ref) or (isinstance(value, list) and any(isinstance(v, Ref) for v in value)):
                refs[name] = value
                data[key] = None if not isinstance(value, list) else []
            else:
                data[key] = _scalar_if_single(cls, key, value)
        return data, refs

    def dataset_value(self, node: Node) -> Any:
        if node.shape and node.dtype not in ("reference",) and not (node.dtype or "").startswith("compound"):
            return LazyArray(self.src, node)
        value = self.src.read(node.path)
        if node.dtype in ("reference", "region_reference") or (node.dtype or "").startswith("compound"):
            return value
        return to_plain(value)

    def validate(self, cls: type[NWBModel], data: dict[str, Any], node: Node) -> NWBModel:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            message = f"{self.src.location}: {node.path} ({cls.__name__}) does not match its spec: {problems}"
            if self.strict:
                raise ModelValidationError(message) from exc
            self.errors.append(message)
            return cls.model_construct(**data)


class _LinkTarget:
    __slots__ = ("file", "path")

    def __init__(self, path: str, file: str | None) -> None:
        self.path, self.file = path, file


def _key(cls: type[NWBModel], name: str) -> str:
    """The key under which a file name is passed to a model: its alias if the model declares it."""
    return name


def _attr_name(cls: type[NWBModel], name: str) -> str:
    for fname, info in cls.model_fields.items():
        if info.alias == name:
            return fname
    return name if name.isidentifier() else field_name(name)


def _scalar_if_single(cls: type[NWBModel], key: str, value: Any) -> Any:
    """MatNWB writes scalar attributes as 1-element arrays: unwrap them where the spec wants a scalar."""
    if isinstance(value, list) and len(value) == 1:
        for info in cls.model_fields.values():
            if info.alias == key and "list" not in str(info.annotation):
                return value[0]
    return value


def to_json(model: NWBModel, arrays: bool = False, indent: int | None = 1) -> str:
    """JSON of a model tree: children nested, references as ``{"$ref": path}``, arrays summarised."""
    return json.dumps(_jsonable(model, model.path, arrays, True), indent=indent, default=str)


def _jsonable(value: Any, owner: str, arrays: bool, top: bool = False) -> Any:
    if isinstance(value, NWBModel):
        if not top and parent_of(value.path) != owner:
            return {"$ref": value.path}
        out: dict[str, Any] = {"type": type(value).__name__, "path": value.path}
        fields = {**{k: getattr(value, k) for k in type(value).model_fields}, **(value.model_extra or {})}
        for key, item in fields.items():
            if item is not None:
                out[key] = _jsonable(item, value.path, arrays)
        return out
    if isinstance(value, LazyArray):
        return np.asarray(value).tolist() if arrays else value.summary()
    if isinstance(value, np.ndarray):
        return [_jsonable(v, owner, arrays) for v in value.tolist()] if value.dtype.kind == "O" else value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, owner, arrays) for v in value]
    if isinstance(value, Ref):
        return {"$ref": value.label()}
    if isinstance(value, np.generic):
        return value.item()
    return value


__all__ = ["DatasetModel", "LazyArray", "ModelValidationError", "read_models", "to_json", "validation_errors"]
