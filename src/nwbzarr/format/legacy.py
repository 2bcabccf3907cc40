"""The legacy layout: Zarr format 2 as hdmf-zarr <= 0.13 wrote it (``zarr_dtype``, ``zarr_link``, ``.zmetadata``;
docs/format.md, "Legacy layout").

Numeric arrays are opened with zarr-python's own v2 support; object arrays (text, references,
compounds with object fields) go through ``legacy_codecs.ObjectArray``, which decodes chunks lazily
and never unpickles anything but numpy arrays, builtin containers and references.  Written stores
encode references with ``json2`` so that hdmf-zarr 0.13 reads them without unsafe pickle.  The store
reads of ``load_nodes`` go through ``format.io``; everything else here is pure encoding and decoding.
"""

from __future__ import annotations

import base64
import warnings
from dataclasses import dataclass
from typing import Any

import numcodecs
import numpy as np
from zarr import AsyncArray
from zarr.abc.store import Store
from zarr.storage import StorePath

from .._private_api import ArrayV2Metadata
from ..errors import LegacyWarning
from ..storage.remote import limited
from .attributes import DIMS_ATTR, HIDDEN_ATTRS, LEGACY_DTYPE_ATTR, LEGACY_LINK_ATTR
from .base import (
    ArraySpec,
    FormatError,
    Layout,
    NodeInfo,
    StoredArray,
    check_node_depth,
    map_objects,
    parse_json,
)
from .codec_map import ensure_codecs_known
from .corrupt import PASS_THROUGH, read_error, store_name
from .io import read_documents, read_json, walk_hierarchy
from .legacy_codecs import OBJECT_CODECS, BrokenArray, ObjectArray
from .reference import ZarrReference
from .safe_codecs import safe_v2_metadata
from .validate import check_attributes, check_v2_array, parse_links

DTYPE_ATTR = LEGACY_DTYPE_ATTR  # every array's dtype label (hdmf-zarr's spellings, not normalised)
LINK_ATTR = LEGACY_LINK_ATTR  # a group's soft and external links
V3_REF_KEY = "_REFERENCE"  # the current layout's attribute reference, read here too (migrated stores)
GROUP_DOC, ARRAY_DOC, ATTRS_DOC, CONSOLIDATED = ".zgroup", ".zarray", ".zattrs", ".zmetadata"
NODE_DOCS = (GROUP_DOC, ARRAY_DOC, ATTRS_DOC)
TEXT_NAMES = frozenset({"str", "str_", "unicode", "text", "utf", "utf8", "utf-8", "isodatetime", "datetime", "object_"})
BYTES_NAMES = frozenset({"bytes", "bytes_", "ascii", "string_"})
REF_NAMES = frozenset({"object", "ref", "reference", "object_reference"})
REGION_NAMES = frozenset({"region", "region_reference"})
DEFAULT_COMPRESSOR = {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}
BLOSC_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


@dataclass
class LegacyNode(NodeInfo):
    """A legacy node; ``error`` is set when its metadata is unusable (reads then raise it)."""

    error: str | None = None
    storage_dtype: Any = None

    @property
    def shape(self) -> tuple[int, ...]:
        shape = self.document.get("shape", ())
        if self.error is not None and not (shape and isinstance(shape, list)
                                           and all(isinstance(n, int) and n >= 0 for n in shape)):
            return (0,)  # unusable metadata: reads raise the reason
        return tuple(shape)

    @property
    def is_compound(self) -> bool:
        return isinstance(self.document.get("dtype"), list)  # a .zarray dtype of [name, type] fields

    @property
    def is_fixed_length_bytes(self) -> bool:
        dt = self.document.get("dtype")
        return isinstance(dt, str) and dt.lstrip("|<>").startswith("S")


class LegacyLayout(Layout):
    """Zarr v2 documents (``.zgroup``/``.zarray``/``.zattrs``) with hdmf-zarr's reserved attributes."""

    name = "legacy"
    zarr_format = 2

    # --- reading ---------------------------------------------------------------------------
    async def load_nodes(self, store: Store, use_consolidated: bool = True,
                         seen: dict[str, Any] | None = None) -> dict[str, NodeInfo]:
        docs = zmetadata_documents(await read_json(store, CONSOLIDATED, seen)) if use_consolidated else None
        if docs is None:
            docs = await read_documents(store, list(NODE_DOCS))
            for found in (await walk_hierarchy(store, _node_keys, _is_document, _is_group)).values():
                docs.update(found)
        return self.decode_nodes(docs)

    def decode_nodes(self, docs: dict[str, Any]) -> dict[str, NodeInfo]:
        """Every node (by relative path) from the documents of the store (key -> document)."""
        if GROUP_DOC not in docs:
            raise FormatError("no .zgroup at the store root")
        nodes = _by_node(docs)
        for path in nodes:
            check_node_depth(path)
        return {path: self.node_info(path, parts) for path, parts in nodes.items()}

    def node_info(self, path: str, parts: dict[str, dict]) -> LegacyNode:
        """Interpret one node's documents (``{".zgroup"|".zarray"|".zattrs": doc}``)."""
        where = "/" + path
        for name, part in parts.items():
            if not isinstance(part, dict):
                raise FormatError(f"node {where}: {name} is a {type(part).__name__}, not a JSON object")
        raw = check_attributes(where, parts.get(ATTRS_DOC), ATTRS_DOC)
        attrs = {k: decode_attr_value(v, f"{where}@{k}") for k, v in raw.items() if k not in HIDDEN_ATTRS}
        if GROUP_DOC in parts:
            doc = {**parts[GROUP_DOC], "attributes": raw}
            links = parse_links(where, raw.get(LINK_ATTR), LINK_ATTR)
            return LegacyNode(path=path, kind="group", attrs=attrs, links=links, document=doc)
        zarray = parts.get(ARRAY_DOC)
        doc = {**(zarray or {}), "attributes": raw}
        node = LegacyNode(path=path, kind="array", attrs=attrs, document=doc)
        if zarray is None:
            return _broken(node, "its .zarray is missing (only .zattrs was found)")
        try:
            _type_array(node, zarray, raw.get(DTYPE_ATTR))
        except FormatError as exc:
            return _broken(node, str(exc))
        return node

    def open_array(self, store: Store, node: NodeInfo) -> StoredArray:
        error = getattr(node, "error", None)
        if error is not None:
            return BrokenArray(f"/{node.path} of {store_name(store)}", error, node.shape)
        zarray = {k: v for k, v in node.document.items() if k != "attributes"}
        return open_v2_array(store, node.path, zarray, getattr(node, "storage_dtype", None))

    def decode_array_values(self, node: NodeInfo, values: np.ndarray) -> np.ndarray:
        if values.dtype.names is not None:
            return _decode_compound(values, node.ref_fields)
        if values.dtype.kind in "OTSU":
            values = values.astype(object) if values.dtype.kind != "O" else values
            if node.is_reference:
                return map_objects(values, decode_reference_element)
            return values if node.text_type is bytes else map_objects(values, _text)
        return values

    # --- writing ---------------------------------------------------------------------------
    def encode_attributes(self, attrs: dict[str, Any], links: list[tuple[str, ZarrReference]]) -> dict:
        from .attributes import encode_node_attributes

        return encode_node_attributes(attrs, links, encode_reference_attr, LINK_ATTR)

    def group_documents(self, path: str, attrs: dict[str, Any]) -> dict[str, dict]:
        docs = {meta_key(path, GROUP_DOC): {"zarr_format": 2}}
        if attrs or not path:
            docs[meta_key(path, ATTRS_DOC)] = dict(attrs)
        return docs

    def array_documents(self, path: str, spec: ArraySpec, attrs: dict[str, Any]) -> dict[str, dict]:
        attrs = dict(attrs)
        attrs[DTYPE_ATTR] = zarr_dtype_label(spec)
        if spec.dimension_names:
            attrs[DIMS_ATTR] = list(spec.dimension_names)
        return {meta_key(path, ARRAY_DOC): zarray_document(spec), meta_key(path, ATTRS_DOC): attrs}

    def attributes_of(self, path: str, documents: dict[str, dict]) -> dict[str, Any]:
        return documents.setdefault(meta_key(path, ATTRS_DOC), {})

    def open_array_for_write(self, store: Store, path: str, documents: dict[str, dict]) -> StoredArray:
        zarray = documents[meta_key(path, ARRAY_DOC)]
        attrs = documents.get(meta_key(path, ATTRS_DOC), {})
        node = LegacyNode(path=path, kind="array", attrs={}, document={**zarray, "attributes": attrs})
        _type_array(node, zarray, attrs.get(DTYPE_ATTR))
        return open_v2_array(store, path, zarray, node.storage_dtype)

    def encode_array_values(self, spec: ArraySpec, values: Any) -> np.ndarray:
        if spec.kind == "reference":
            return _object_array(values, encode_reference_element)
        if spec.kind == "string":
            return _object_array(values, _to_ascii_bytes if _text_codec(spec) == "vlen-bytes" else _to_text)
        if spec.kind == "compound":
            return _encode_compound(values, spec)
        return np.asarray(values, dtype=spec.dtype)

    def consolidated_documents(self, documents: dict[str, dict]) -> dict[str, dict]:
        metadata = {k: documents[k] for k in sorted(documents)
                    if k.rsplit("/", 1)[-1] in (GROUP_DOC, ARRAY_DOC, ATTRS_DOC)}
        return {CONSOLIDATED: {"metadata": metadata, "zarr_consolidated_format": 1}}

    def resize_documents(self, path: str, documents: dict[str, dict], shape: tuple[int, ...]) -> None:
        documents[meta_key(path, ARRAY_DOC)]["shape"] = [int(s) for s in shape]

    def documents_of(self, node: NodeInfo) -> dict[str, dict]:
        doc = dict(node.document)
        attrs = doc.pop("attributes", {}) or {}
        out: dict[str, dict] = {}
        if node.kind == "group":
            out[meta_key(node.path, GROUP_DOC)] = doc
        elif "shape" in doc:
            out[meta_key(node.path, ARRAY_DOC)] = doc
        if attrs or not node.path:
            out[meta_key(node.path, ATTRS_DOC)] = attrs
        return out


# --- keys and discovery ------------------------------------------------------------------------
def meta_key(path: str, name: str) -> str:
    """The key of one of a node's documents (``name``: ``.zgroup``, ``.zarray`` or ``.zattrs``)."""
    return f"{path}/{name}" if path else name


def _node_keys(path: str) -> list[str]:
    return [meta_key(path, n) for n in NODE_DOCS]


def _is_document(name: str) -> bool:
    return name.startswith(".z")


def _is_group(path: str, docs: dict[str, dict]) -> bool:
    return meta_key(path, GROUP_DOC) in docs


def _split_key(key: str) -> tuple[str, str]:
    path, _, name = key.rpartition("/")
    return path, name


def _by_node(docs: dict[str, Any]) -> dict[str, dict[str, dict]]:
    nodes: dict[str, dict[str, dict]] = {}
    for key, doc in docs.items():
        path, name = _split_key(key.strip("/"))
        if name in (GROUP_DOC, ARRAY_DOC, ATTRS_DOC):
            nodes.setdefault(path, {})[name] = doc
    for path, parts in list(nodes.items()):
        if GROUP_DOC not in parts and ARRAY_DOC not in parts and DTYPE_ATTR not in (parts.get(ATTRS_DOC) or {}):
            warnings.warn(f"node /{path} has .zattrs but no .zgroup: read as a group", LegacyWarning, stacklevel=3)
            parts[GROUP_DOC] = {"zarr_format": 2}
    return nodes


def zmetadata_documents(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The documents (key -> document) listed in a ``.zmetadata``; None when it is absent or empty."""
    if doc is None:
        return None
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict) or not metadata:
        return None
    return metadata


# --- typing arrays -------------------------------------------------------------------------------
def _broken(node: LegacyNode, reason: str) -> LegacyNode:
    node.error = reason
    warnings.warn(f"dataset /{node.path} cannot be read: {reason}", LegacyWarning, stacklevel=4)
    return node


def _object_codec(zarray: dict) -> str | None:
    filters = zarray.get("filters") or []
    first = filters[0].get("id") if filters and isinstance(filters[0], dict) else None
    return first if first in OBJECT_CODECS else None


def _storage_dtype(zarray: dict, where: str) -> np.dtype:
    raw = zarray.get("dtype")
    try:
        if isinstance(raw, list):
            return np.dtype([tuple(f) if len(f) == 2 else (f[0], f[1], tuple(f[2])) for f in raw])
        return np.dtype(raw)
    except (TypeError, ValueError) as exc:
        raise FormatError(f".zarray dtype {raw!r} is not a numpy dtype ({exc})") from None


def _type_array(node: LegacyNode, zarray: dict, zdtype: Any) -> None:
    """Set ``hdmf_dtype``/``ref_fields``/``scalar_as_1d``/``storage_dtype`` from ``zarr_dtype``."""
    where = "/" + node.path
    if "shape" not in zarray or "chunks" not in zarray:
        raise FormatError(".zarray has no shape or chunks")
    check_v2_array(zarray)
    stored = _storage_dtype(zarray, where)
    codec = _object_codec(zarray)
    if stored.hasobject and codec is None:
        raise FormatError(f"object dtype without an object codec (filters {zarray.get('filters')})")
    if zdtype is None:
        zdtype = _inferred_zarr_dtype(stored, codec)
    if isinstance(zdtype, list):
        node.ref_fields, node.storage_dtype = _compound_fields(zdtype, stored)
        return
    if not isinstance(zdtype, str):
        raise FormatError(f"unknown zarr_dtype {zdtype!r}")
    label = zdtype.strip()
    if label == "scalar":
        node.scalar_as_1d = tuple(zarray["shape"]) == (1,)
        node.hdmf_dtype = _label_of_storage(stored, codec)
    elif label in REF_NAMES or label in REGION_NAMES:
        if not stored.hasobject:
            raise FormatError(f"zarr_dtype {zdtype!r} (references) on a {stored} array")
        node.hdmf_dtype = "region_reference" if label in REGION_NAMES else "object_reference"
    elif label in TEXT_NAMES or label in BYTES_NAMES:
        node.hdmf_dtype = "bytes" if label in BYTES_NAMES else "str"
    else:
        node.hdmf_dtype = _numeric_label(label, stored)
    node.storage_dtype = stored


def _inferred_zarr_dtype(stored: np.dtype, codec: str | None) -> Any:
    if stored.names is not None:
        return [{"name": n, "dtype": "object" if stored.fields[n][0].hasobject else stored.fields[n][0].name}
                for n in stored.names]
    return _label_of_storage(stored, codec) or "object"


def _label_of_storage(stored: np.dtype, codec: str | None) -> str | None:
    if codec == "vlen-utf8":
        return "str"
    if codec == "vlen-bytes":
        return "bytes"
    if stored.hasobject or stored.names is not None:
        return None
    return "bool" if stored.kind == "b" else stored.name


def _numeric_label(label: str, stored: np.dtype) -> str:
    try:
        named = np.dtype(label)
    except (TypeError, ValueError):
        raise FormatError(f"unknown zarr_dtype {label!r} (expected a numpy or Python type name, 'str', "
                          "'bytes', 'object', 'scalar' or a list of fields)") from None
    if named.kind not in "biuf":
        raise FormatError(f"unsupported zarr_dtype {label!r} ({named})")
    if stored.kind not in "biuf":
        raise FormatError(f"zarr_dtype {label!r} on an array stored as {stored}")
    return "bool" if stored.kind == "b" else stored.name


def _field_numeric_dtype(label: str) -> np.dtype:
    try:
        named = np.dtype(label)
    except (TypeError, ValueError):
        raise FormatError(f"unknown zarr_dtype {label!r} for a compound field") from None
    if named.kind not in "biuf":
        raise FormatError(f"unsupported compound field zarr_dtype {label!r} ({named})")
    return named


def _compound_fields(fields: list, stored: np.dtype) -> tuple[tuple[str, ...], np.dtype]:
    refs, parts = [], []
    for f in fields:
        if not isinstance(f, dict) or "name" not in f or "dtype" not in f:
            raise FormatError(f"compound zarr_dtype entry {f!r} has no name and dtype")
        sub = f["dtype"]
        if isinstance(sub, dict) or (isinstance(sub, str) and sub in REF_NAMES | REGION_NAMES):
            refs.append(f["name"])
            parts.append((f["name"], object))
        elif isinstance(sub, str) and sub in TEXT_NAMES | BYTES_NAMES:
            parts.append((f["name"], object))
        elif isinstance(sub, str):
            parts.append((f["name"], _field_numeric_dtype(sub)))
        else:
            raise FormatError(f"unknown zarr_dtype {sub!r} for compound field {f['name']!r}")
    if stored.names is not None:
        if tuple(stored.names) != tuple(p[0] for p in parts):
            raise FormatError(f"zarr_dtype fields {[p[0] for p in parts]} differ from the .zarray fields "
                              f"{list(stored.names)}")
        return tuple(refs), stored
    return tuple(refs), np.dtype(parts)


def open_v2_array(store: Store, path: str, zarray: dict, dtype: np.dtype | None) -> StoredArray:
    """A lazily read v2 array: zarr-python's own for plain data, ``ObjectArray`` for object codecs."""
    where = "/" + path
    if _object_codec(zarray) is not None:
        return ObjectArray(store, path, zarray, dtype if dtype is not None else np.dtype(object), where)
    meta = dict(zarray)
    meta.pop("attributes", None)
    ensure_codecs_known([meta.get("compressor")] + list(meta.get("filters") or []))
    try:
        metadata = safe_v2_metadata(ArrayV2Metadata.from_dict(meta))
    except Exception as exc:
        raise FormatError(f"{store_name(store)}: dataset {where}: .zarray cannot be used ({exc})") from exc
    return NamedArray(AsyncArray(metadata=metadata, store_path=StorePath(limited(store), path)), where)


class NamedArray:
    """zarr's ``AsyncArray`` whose read and write errors name the store, the dataset (and the damaged chunk)."""

    def __init__(self, array: AsyncArray, where: str) -> None:
        self._inner = array
        self.where = where

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._inner.shape

    @property
    def dtype(self) -> Any:
        return self._inner.dtype

    @property
    def chunks(self) -> tuple[int, ...]:
        return self._inner.chunks

    async def getitem(self, selection: Any) -> Any:
        try:
            return await self._inner.getitem(selection)
        except PASS_THROUGH:
            raise
        except Exception as exc:
            named = await read_error(self._inner, selection, self.where)
            if named is not None:
                raise named from exc
            raise FormatError(f"dataset {self.where} cannot be read: {type(exc).__name__}: {exc}") from exc

    async def setitem(self, selection: Any, values: Any) -> None:
        try:
            await self._inner.setitem(selection, values)
        except Exception as exc:
            raise FormatError(f"dataset {self.where} cannot be written: {type(exc).__name__}: {exc}") from exc


# --- attributes and links ----------------------------------------------------------------------
def decode_attr_value(value: Any, where: str) -> Any:
    """``{"zarr_dtype": "object", "value": {...}}`` as a ZarrReference; anything else unchanged."""
    try:
        if isinstance(value, dict) and value.get(DTYPE_ATTR) == "object" and "value" in value:
            return ZarrReference.from_json(value["value"], f"reference in attribute {where}")
        if isinstance(value, dict) and V3_REF_KEY in value:
            return ZarrReference.from_json(value[V3_REF_KEY], f"reference in attribute {where}")
    except ValueError as exc:
        raise FormatError(str(exc)) from None
    return value


def encode_reference_attr(ref: ZarrReference) -> dict[str, Any]:
    return {DTYPE_ATTR: "object", "value": encode_reference_element(ref)}


# --- values ------------------------------------------------------------------------------------
def encode_reference_element(ref: Any) -> dict[str, Any] | None:
    """A reference as hdmf-zarr stores it: ``{"source", "path", "object_id", "source_object_id"}``."""
    if ref is None:
        return None
    ref = ZarrReference.from_json(ref)
    out = {"source": ref.source, "path": ref.path, "object_id": ref.object_id,
           "source_object_id": ref.source_object_id}
    if ref.region is not None:
        out["region"] = ref.region
    return out


def decode_reference_element(value: Any) -> ZarrReference | None:
    if value is None or isinstance(value, ZarrReference):
        return value
    if isinstance(value, dict):
        return ZarrReference.from_json(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str) and value.startswith("{"):
        return ZarrReference.from_json(parse_json(value, "reference"))
    return ZarrReference(".", str(value)) if value else None


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def _to_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    iso = getattr(value, "isoformat", None)
    return iso() if iso is not None else str(value)


def _object_array(values: Any, fn) -> np.ndarray:
    """Elements mapped by ``fn`` into an object array shaped like ``values`` (dicts stay elements)."""
    if isinstance(values, np.ndarray):
        return map_objects(values.astype(object) if values.dtype.kind != "O" else values, fn)
    if isinstance(values, (list, tuple)) and not isinstance(values, ZarrReference):
        items = [_object_array(v, fn) if isinstance(v, (list, np.ndarray)) else v for v in values]
        if items and all(isinstance(i, np.ndarray) for i in items):
            out = np.empty((len(items),) + items[0].shape, dtype=object)
            for i, sub in enumerate(items):
                out[i] = sub
            return out
        out = np.empty(len(items), dtype=object)
        for i, v in enumerate(items):
            out[i] = fn(v)
        return out
    out = np.empty((), dtype=object)
    out[()] = fn(values)
    return out


def _decode_compound(values: np.ndarray, ref_fields: tuple[str, ...]) -> np.ndarray:
    if not values.dtype.hasobject and not ref_fields:
        return values
    dt = np.dtype([(n, object if values.dtype.fields[n][0].hasobject or n in ref_fields
                    else values.dtype.fields[n][0]) for n in values.dtype.names])
    out = np.empty(values.shape, dtype=dt)
    for name in values.dtype.names:
        col = values[name]
        if name in ref_fields:
            out[name] = map_objects(col.astype(object), decode_reference_element)
        elif col.dtype.hasobject:
            out[name] = map_objects(col, _text)
        else:
            out[name] = col
    return out


def _encode_compound(values: Any, spec: ArraySpec) -> np.ndarray:
    dtype = storage_dtype_of(spec)
    shape = tuple(spec.shape)
    out = np.empty(shape, dtype=dtype)
    flat = out.reshape(-1)
    rows = [values] if not shape else (list(values) if not isinstance(values, np.ndarray) else values.reshape(-1))
    for i, row in enumerate(rows):
        items = [row[n] for n in dtype.names] if isinstance(row, dict) else list(
            row.tolist() if isinstance(row, np.void) else row)
        flat[i] = tuple(_encode_field(v, n in spec.ref_fields, dtype.fields[n][0])
                        for n, v in zip(dtype.names, items))
    return out


def _encode_field(value: Any, is_ref: bool, dtype: np.dtype) -> Any:
    if is_ref:
        return encode_reference_element(value)
    if dtype.hasobject:
        return _to_text(value)
    return value


# --- documents -----------------------------------------------------------------------------------
def storage_dtype_of(spec: ArraySpec) -> np.dtype:
    """The numpy dtype a compound is stored with: text and reference fields as Python objects."""
    fields = []
    for name in spec.dtype.names:
        sub = spec.dtype.fields[name][0]
        fields.append((name, object if name in spec.ref_fields or sub.kind in "USOT" else sub))
    return np.dtype(fields)


def zarr_dtype_label(spec: ArraySpec) -> Any:
    """The ``zarr_dtype`` attribute hdmf-zarr 0.13 would write for this array."""
    if spec.kind == "compound":
        out = []
        for name in spec.dtype.names:
            sub = spec.dtype.fields[name][0]
            label = "object" if name in spec.ref_fields else "str" if sub.kind in "USOT" else sub.name
            out.append({"name": name, "dtype": label})
        return out
    if spec.kind == "reference":
        return "object"
    if spec.is_scalar:
        return "scalar"  # HDF5 text kept by a conversion: ASCII as vlen-bytes, fixed length as |S<n>
    if spec.hdmf_dtype in ("ascii", "utf8") and spec.kind in ("string", "numeric"):
        return spec.hdmf_dtype  # HDF5 text kept as ASCII / fixed length (conversions)
    if spec.kind == "string":
        return "str"
    return "bool" if spec.dtype.kind == "b" else spec.dtype.name


def _text_codec(spec: ArraySpec) -> str:
    """vlen-bytes for text a conversion keeps as HDF5 ASCII (hdmf-zarr 0.13's codec for bytes), else vlen-utf8."""
    return "vlen-bytes" if spec.hdmf_dtype == "ascii" else "vlen-utf8"


def _to_ascii_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def zarray_document(spec: ArraySpec) -> dict[str, Any]:
    """The ``.zarray`` of an array: hdmf-zarr 0.13's defaults (blosc-lz4), json2 for object codecs."""
    shape = [int(s) for s in spec.shape] or [1]
    chunks = [max(1, int(c)) for c in (spec.chunks or spec.shape)] or [1]
    if len(chunks) != len(shape):
        chunks = [max(1, s) for s in shape]
    filters, compressor = v2_codecs(spec.filters, spec.compressors)
    if spec.shards is not None:
        warnings.warn(f"shards {tuple(spec.shards)} ignored: Zarr format 2 (the legacy layout) has no sharding; "
                      f"chunks {tuple(chunks)} are written", LegacyWarning, stacklevel=2)
    doc: dict[str, Any] = {"chunks": chunks, "compressor": compressor, "order": "C", "shape": shape,
                           "zarr_format": 2}
    if spec.kind in ("string", "reference") or (spec.kind == "compound" and storage_dtype_of(spec).hasobject):
        codec = {"id": _text_codec(spec)} if spec.kind == "string" else numcodecs.JSON().get_config()
        doc.update(dtype="|O", fill_value=0, filters=[codec] + (filters or []))
    elif spec.kind == "compound":
        dt = storage_dtype_of(spec)
        doc.update(dtype=[[n, dt.fields[n][0].str] for n in dt.names], filters=filters,
                   fill_value=base64.b64encode(np.zeros((), dtype=dt).tobytes()).decode("ascii"))
    else:
        doc.update(dtype=spec.dtype.str, filters=filters, fill_value=_fill_value(spec))
    return dict(sorted(doc.items()))


def _fill_value(spec: ArraySpec) -> Any:
    if spec.dtype.kind == "S":  # fixed-length bytes: base64, as zarr's v2 metadata spells them
        return base64.b64encode(np.asarray(spec.fill_value or b"", dtype=spec.dtype).item()).decode("ascii")
    value = np.asarray(spec.fill_value if spec.fill_value is not None else 0, dtype=spec.dtype).item()
    if isinstance(value, float) and not np.isfinite(value):
        return "NaN" if np.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def v2_codecs(filters: Any, compressors: Any) -> tuple[list[dict] | None, dict | None]:
    """(filters, compressor) as v2 JSON from numcodecs codecs, zarr 3 codecs or ``"auto"``."""
    extra = [_v2_codec(f) for f in _as_list(filters)]
    if isinstance(compressors, str) and compressors == "auto":
        return extra or None, dict(DEFAULT_COMPRESSOR)
    comps = [_v2_codec(c) for c in _as_list(compressors)]
    if not comps:
        return extra or None, None
    return (extra + comps[:-1]) or None, comps[-1]


def _as_list(value: Any) -> list:
    if value is None or (isinstance(value, str) and value == "auto"):
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _v2_codec(codec: Any) -> dict:
    if isinstance(codec, dict):
        return dict(codec)
    if hasattr(codec, "get_config"):  # numcodecs
        return codec.get_config()
    doc = codec.to_dict()
    name, conf = doc["name"], dict(doc.get("configuration") or {})
    if name == "blosc":
        return {"id": "blosc", "cname": str(conf.get("cname", "lz4")), "clevel": int(conf.get("clevel", 5)),
                "shuffle": BLOSC_SHUFFLE.get(str(conf.get("shuffle", "shuffle")), 1),
                "blocksize": int(conf.get("blocksize", 0))}
    if name == "zstd":
        return {"id": "zstd", "level": int(conf.get("level", 0))}
    if name == "gzip":
        return {"id": "gzip", "level": int(conf.get("level", 5))}
    if name.startswith("numcodecs."):
        return {"id": name[len("numcodecs."):], **conf}
    raise FormatError(f"codec {name!r} has no Zarr v2 equivalent")
