"""The current layout: Zarr format 3, shared with hdmf-zarr >= 0.14 and LINDI (docs/format.md, "Current layout").

Pure encoding and decoding of ``zarr.json`` documents and element values; the store reads of
``load_nodes`` and ``read_small_arrays`` go through ``format.io``.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import marshal
import math
import warnings
from typing import Any

import numpy as np
from zarr import AsyncArray
from zarr.abc.store import Store
from zarr.storage import StorePath

from ..storage.remote import limited
from . import attributes as attr_codec
from .attributes import HIDDEN_ATTRS, LEGACY_DTYPE_ATTR, V3_DTYPE_ATTR, V3_LINKS_ATTR, V3_REF_FIELDS_ATTR
from .base import (
    MAX_JSON_DEPTH,
    ArraySpec,
    FormatError,
    Layout,
    NodeInfo,
    check_node_depth,
    encode_json,
    map_objects,
    nests_past,
    parse_json,
)
from .chunks import decode_single_chunk
from .codec_map import ensure_codecs_known, needs_translation, to_zarr3_codecs
from .codecs import array_template, default_compressors
from .corrupt import PASS_THROUGH, CheckedArray, chunk_error, store_name
from .dtypes import dtype_name, dtype_text
from .io import read_chunks, read_json, walk_hierarchy
from .reference import ZarrReference
from .safe_codecs import checked_v3_codecs
from .single_chunk import SingleChunk, encode_single, single_chunk_encoder, single_chunk_of
from .validate import check_attributes, check_v3_array, parse_links

DTYPE_ATTR = V3_DTYPE_ATTR  # the HDMF dtype label of a non-compound array
LINKS_ATTR = V3_LINKS_ATTR  # a group's soft and external links
REF_FIELDS_ATTR = V3_REF_FIELDS_ATTR  # the reference fields of a compound array
REF_KEY = "_REFERENCE"  # an attribute value that is a reference: {"_REFERENCE": {"source", "path"}}
META_NAME = "zarr.json"  # every node's one document
TEXT_DATA_TYPES = ("string", "variable_length_utf8")
STRUCT_DATA_TYPES = ("struct", "structured")  # canonical name, and zarr-python < 3.4's
FIXED_BYTES_DATA_TYPES = ("null_terminated_bytes", "fixed_length_bytes")
MIN_FIXED_TEXT = 512  # characters of a compound's text/reference field at least, as hdmf-zarr 0.14 writes


class V3Node(NodeInfo):
    """A node of a Zarr v3 store: its ``zarr.json`` ``data_type`` answers the typing questions."""

    @property
    def is_compound(self) -> bool:
        dt = self.document.get("data_type")
        return isinstance(dt, dict) and dt.get("name") in STRUCT_DATA_TYPES

    @property
    def is_fixed_length_bytes(self) -> bool:
        dt = self.document.get("data_type")
        return isinstance(dt, dict) and dt.get("name") in FIXED_BYTES_DATA_TYPES

    @property
    def stored_as_text(self) -> bool:
        return self.document.get("data_type") in TEXT_DATA_TYPES


class CurrentLayout(Layout):
    """Zarr v3 documents (``zarr.json``), ``_DTYPE``/``_LINKS``/``_REFERENCE`` conventions."""

    name = "v3"
    zarr_format = 3

    # --- reading ---------------------------------------------------------------------------
    async def load_nodes(self, store: Store, use_consolidated: bool = True,
                         seen: dict[str, Any] | None = None) -> dict[str, NodeInfo]:
        root = await read_json(store, META_NAME, seen)
        docs = root_documents(root, use_consolidated)
        if docs is None:
            walked = await walk_hierarchy(store, lambda path: [meta_key(path)], _is_document, _is_group)
            docs = {"": root, **{path: found[meta_key(path)] for path, found in walked.items()}}
        return self.decode_nodes(docs)

    def decode_nodes(self, docs: dict[str, dict]) -> dict[str, NodeInfo]:
        """Every node (by relative path) from its ``zarr.json`` document."""
        for path in docs:
            check_node_depth(path)
        return {path: self.node_info(path, doc) for path, doc in docs.items()}

    def node_info(self, path: str, doc: dict[str, Any]) -> V3Node:
        """Interpret one ``zarr.json`` document."""
        where = "/" + path
        if not isinstance(doc, dict):
            raise FormatError(f"node {where}: zarr.json is a {type(doc).__name__}, not a JSON object")
        node_type = doc.get("node_type")
        if node_type not in ("group", "array"):
            raise FormatError(f"node {path or '/'!r}: zarr.json has node_type {node_type!r}")
        raw_attrs = check_attributes(where, doc.get("attributes"), "zarr.json")
        attrs = {k: decode_attr_value(v, f"{where}@{k}") for k, v in raw_attrs.items() if k not in HIDDEN_ATTRS}
        links = parse_links(where, raw_attrs.get(LINKS_ATTR), LINKS_ATTR)
        info = V3Node(path=path, kind=node_type, attrs=attrs, links=links, document=doc)
        if node_type == "array":
            check_v3_array(where, doc)
            info.hdmf_dtype = _text_attr(where, raw_attrs, DTYPE_ATTR)
            info.ref_fields = _ref_fields(where, raw_attrs.get(REF_FIELDS_ATTR, ()))
        return info

    def open_array(self, store: Store, node: NodeInfo) -> AsyncArray:  # a StoredArray
        """zarr's array, whose failed reads name the store, the dataset and the damaged chunk."""
        metadata = parsed_metadata(node.document, f"{store_name(store)}: array /{node.path}")
        return CheckedArray(metadata=metadata, store_path=StorePath(limited(store), node.path))  # remote: bounded

    def single_chunk(self, node: NodeInfo) -> SingleChunk | None:
        """A small numeric array in one plain chunk, read without zarr's objects (``format.single_chunk``)."""
        return single_chunk_of(node.document)

    def encode_single_chunk(self, path: str, documents: dict[str, dict], values: np.ndarray,
                            spec: ArraySpec | None = None) -> tuple[str, Any] | None:
        """A small numeric one-chunk array encoded without zarr's objects (``format.single_chunk``); an array
        with the default codecs is encoded from its spec, without reading its document again."""
        if spec is not None and spec.kind == "numeric" and _is_default_pipeline(spec) \
                and tuple(spec.shape) == values.shape == _chunks_for(spec):
            encode = _default_chunk_encoder(dtype_text(spec.dtype), len(spec.shape))
            return encode(values) if encode is not None else None
        doc = documents.get(meta_key(path))
        return encode_single(doc, values) if isinstance(doc, dict) else None

    async def read_small_arrays(self, store: Store, nodes: list[NodeInfo]) -> list[np.ndarray]:
        """Fetch the single chunk of each array in one batch and decode it with zarr's sync codecs."""
        from .._private_api import ArrayConfig

        metas = [parsed_metadata(n.document, f"{store_name(store)}: array /{n.path}") for n in nodes]
        keys = [f"{n.path}/{m.encode_chunk_key((0,) * len(m.shape))}" for n, m in zip(nodes, metas)]
        raws = await read_chunks(store, keys)
        config = ArrayConfig.from_dict({})
        out: list[Any] = []
        slow = []
        for i, (meta, raw) in enumerate(zip(metas, raws)):
            if raw is None:
                out.append(np.full(meta.shape, _fill_value(meta), dtype=_native(meta)))
                continue
            try:
                value = decode_single_chunk(meta, raw, config)
            except PASS_THROUGH:
                raise
            except Exception as exc:
                raise chunk_error(store, nodes[i].path, keys[i], exc) from exc
            out.append(value)
            if value is None:
                slow.append(i)
        if slow:
            rest = await super().read_small_arrays(store, [nodes[i] for i in slow])
            for i, value in zip(slow, rest):
                out[i] = value
        return out

    def decode_array_values(self, node: NodeInfo, values: np.ndarray) -> np.ndarray:
        if values.dtype.names is not None:
            return _decode_compound(values, node.ref_fields)
        if values.dtype.kind in "TOU":
            values = values.astype(object)
            if node.is_reference:
                return map_objects(values, decode_reference_element)
            return values
        return values

    # --- writing ---------------------------------------------------------------------------
    def encode_attributes(self, attrs: dict[str, Any], links: list[tuple[str, ZarrReference]]) -> dict:
        return attr_codec.encode_node_attributes(attrs, links, encode_reference_attr, LINKS_ATTR)

    def group_documents(self, path: str, attrs: dict[str, Any]) -> dict[str, dict]:
        return {meta_key(path): {"attributes": attrs, "zarr_format": 3, "node_type": "group"}}

    def array_documents(self, path: str, spec: ArraySpec, attrs: dict[str, Any]) -> dict[str, dict]:
        attrs = dict(attrs)
        if spec.kind == "compound":
            doc = _compound_document(spec)
            if spec.ref_fields:
                attrs[REF_FIELDS_ATTR] = list(spec.ref_fields)
        else:
            doc = _plain_document(spec)
            attrs[DTYPE_ATTR] = _dtype_label(spec)
        doc["attributes"] = attrs
        return {meta_key(path): doc}

    def attributes_of(self, path: str, documents: dict[str, dict]) -> dict[str, Any]:
        return documents[meta_key(path)].setdefault("attributes", {})

    def open_array_for_write(self, store: Store, path: str, documents: dict[str, dict]) -> AsyncArray:  # StoredArray
        doc = documents[meta_key(path)]
        return CheckedArray(metadata=parsed_metadata(doc), store_path=StorePath(store, path))

    def encode_array_values(self, spec: ArraySpec, values: Any) -> np.ndarray:
        if spec.kind == "reference":
            arr = np.empty(np.shape(values) if not isinstance(values, list) else (len(values),), dtype=object)
            flat = arr.reshape(-1)
            for i, ref in enumerate(_iter_flat(values)):
                flat[i] = encode_reference_element(ref)
            return arr
        if spec.kind == "string":
            return _as_text_array(values)
        if spec.kind == "compound":
            return _encode_compound(values, spec)
        return np.asarray(values, dtype=spec.dtype)

    def consolidated_documents(self, documents: dict[str, dict]) -> dict[str, dict]:
        by_path = {key_to_path(k): doc for k, doc in documents.items()}
        root = _without_consolidated(by_path[""])
        metadata = {}
        for path in sorted(p for p in by_path if p):
            doc = dict(by_path[path])
            if doc.get("node_type") == "group":
                doc["consolidated_metadata"] = _consolidated_block({})
            metadata[path] = doc
        root["consolidated_metadata"] = _consolidated_block(metadata)
        return {META_NAME: root}

    def encode_consolidated(self, documents: dict[str, dict], encoded: dict[str, bytes]) -> dict[str, bytes]:
        """The root ``zarr.json`` with every node's document spliced in as this write encoded it (the bytes
        ``encode_json`` gives for ``consolidated_documents``, without encoding 6,000 documents twice)."""
        root = _without_consolidated(documents[META_NAME])
        root["consolidated_metadata"] = _consolidated_block({})
        head = encode_json(root)
        if not head.endswith(_EMPTY_METADATA_END):
            return super().encode_consolidated(documents, encoded)
        entries = []
        for key in sorted((k for k in documents if k != META_NAME), key=key_to_path):
            doc = documents[key]
            if "consolidated_metadata" in doc:  # a block of its own: encoded whole, as zarr nests it
                return super().encode_consolidated(documents, encoded)
            text = encoded.get(key) or encode_json(doc)
            if doc.get("node_type") == "group":
                text = _with_empty_block(text)
            if nests_past(text, MAX_JSON_DEPTH - 3):  # root, consolidated_metadata, metadata: 3 levels above
                return super().encode_consolidated(documents, encoded)  # which refuses it, naming the place
            entries.append(_json_string(key_to_path(key)) + b":" + text)
        body = b",".join(entries)
        return {META_NAME: head[: -len(_EMPTY_METADATA_END)] + b'"metadata":{' + body + b"}}}"}

    def resize_documents(self, path: str, documents: dict[str, dict], shape: tuple[int, ...]) -> None:
        documents[meta_key(path)]["shape"] = [int(s) for s in shape]

    def documents_of(self, node: NodeInfo) -> dict[str, dict]:
        doc = {k: v for k, v in node.document.items() if k != "consolidated_metadata"}
        return {meta_key(node.path): doc}


def _consolidated_block(metadata: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "inline", "must_understand": False, "metadata": metadata}


def _without_consolidated(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "consolidated_metadata"}


_EMPTY_METADATA_END = b'"metadata":{}}}'  # how an encoded root with an empty consolidated block ends
_EMPTY_BLOCK_TEXT = b'"consolidated_metadata":' + encode_json(_consolidated_block({}))


def _with_empty_block(text: bytes) -> bytes:
    """A group's encoded document with the empty consolidated block zarr nests in it, as encoding
    ``dict(doc, consolidated_metadata=...)`` gives."""
    return text[:-1] + (b"," if text != b"{}" else b"") + _EMPTY_BLOCK_TEXT + b"}"


def _json_string(value: str) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


# --- keys ----------------------------------------------------------------------------------
def meta_key(path: str) -> str:
    """The key of a node's ``zarr.json``."""
    return f"{path}/{META_NAME}" if path else META_NAME


def key_to_path(key: str) -> str:
    """The node path of a ``zarr.json`` key."""
    return key[: -len(META_NAME) - 1] if key.endswith("/" + META_NAME) else ""


# --- hierarchy discovery --------------------------------------------------------------------
def _flatten_consolidated(metadata: dict[str, Any]) -> dict[str, dict]:
    """Consolidated entries by relative path (nested consolidated blocks flattened too)."""
    out: dict[str, dict] = {}
    for path, doc in metadata.items():
        out[path.strip("/")] = doc  # not a JSON object: node_info says so, naming the node
        block = doc.get("consolidated_metadata") if isinstance(doc, dict) else None
        nested = block.get("metadata") if isinstance(block, dict) else None
        for sub, subdoc in _flatten_consolidated(nested if isinstance(nested, dict) else {}).items():
            out.setdefault(f"{path.strip('/')}/{sub}", subdoc)
    return out


def root_documents(root: dict[str, Any] | None, use_consolidated: bool) -> dict[str, dict] | None:
    """Every node's document by path from the root ``zarr.json``'s consolidated metadata; None when the
    hierarchy has to be walked (no consolidated metadata, or not to be used). A missing or non-v3 root
    is refused."""
    if root is None:
        raise FormatError(f"no {META_NAME} at the store root")
    if root.get("zarr_format") != 3:
        raise FormatError(f"root {META_NAME} has zarr_format {root.get('zarr_format')!r}, expected 3")
    consolidated = root.get("consolidated_metadata") if use_consolidated else None
    if isinstance(consolidated, dict) and isinstance(consolidated.get("metadata"), dict) \
            and consolidated["metadata"]:
        return {"": root, **_flatten_consolidated(consolidated["metadata"])}
    return None


def _is_document(name: str) -> bool:
    return name == META_NAME


def _is_group(path: str, docs: dict[str, dict]) -> bool:
    return docs[meta_key(path)].get("node_type") == "group"


# --- zarr-python compatibility --------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _parsed_from_json(text: str) -> Any:
    from .._private_api import ArrayV3Metadata

    doc = json.loads(text)
    ensure_codecs_known(doc.get("codecs"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = ArrayV3Metadata.from_dict(doc)
    return dataclasses.replace(meta, codecs=checked_v3_codecs(tuple(meta.codecs)))


def parsed_metadata(doc: dict[str, Any], where: str = "array") -> Any:
    """zarr's parsed metadata for an array document (attributes left out; cached by content); a document
    zarr refuses raises a ``FormatError`` that starts with ``where``."""
    try:
        return _parsed_from_json(json.dumps(installed_zarr_metadata(doc), sort_keys=True))
    except FormatError as exc:
        raise FormatError(f"{where}: {exc}") from exc
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise FormatError(f"{where}: zarr.json cannot be used ({type(exc).__name__}: {exc})") from exc


def _text_attr(where: str, attrs: dict[str, Any], key: str) -> str | None:
    value = attrs.get(key)
    if value is not None and not isinstance(value, str):
        raise FormatError(f"array {where}: attribute {key!r} is {value!r}, not a dtype name")
    return value


def _ref_fields(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise FormatError(f"array {where}: attribute {REF_FIELDS_ATTR!r} is {value!r}, not a list of field names")
    return tuple(value)


def _native(meta: Any) -> Any:
    dt = meta.dtype
    return dt.to_native_dtype() if hasattr(dt, "to_native_dtype") else dt


def _fill_value(meta: Any) -> Any:
    return meta.fill_value



@functools.lru_cache(maxsize=1)
def installed_zarr_reads_struct() -> bool:
    """Whether the installed zarr-python parses the canonical ``struct`` data type (>= 3.4)."""
    from .._private_api import ArrayV3Metadata

    doc = {
        "shape": [1], "zarr_format": 3, "node_type": "array", "attributes": {}, "storage_transformers": [],
        "data_type": {"name": "struct", "configuration": {"fields": [{"name": "a", "data_type": "int32"}]}},
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": {"a": 0}, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ArrayV3Metadata.from_dict(doc)
        return True
    except Exception:
        return False


def installed_zarr_metadata(doc: dict[str, Any]) -> dict[str, Any]:
    """The document in the spelling the installed zarr-python understands (struct -> structured)."""
    dt = doc.get("data_type")
    doc = {k: v for k, v in doc.items() if k != "consolidated_metadata"}
    doc["attributes"] = {}
    if isinstance(dt, dict) and dt.get("name") == "struct" and not installed_zarr_reads_struct():
        npd = numpy_dtype_of_struct(dt)
        fields = [[f["name"], f["data_type"]] for f in dt["configuration"]["fields"]]
        doc["data_type"] = {"name": "structured", "configuration": {"fields": fields}}
        doc["fill_value"] = base64.b64encode(np.zeros((), dtype=npd).tobytes()).decode("ascii")
    elif isinstance(dt, dict) and dt.get("name") == "structured" and installed_zarr_reads_struct():
        pass
    return doc


def numpy_dtype_of_struct(dt: dict[str, Any]) -> np.dtype:
    """numpy dtype of a ``struct``/``structured`` data type JSON (either field spelling)."""
    fields = []
    for f in dt["configuration"]["fields"]:
        name, ftype = (f["name"], f["data_type"]) if isinstance(f, dict) else (f[0], f[1])
        fields.append((name, _numpy_dtype_of_field(ftype)))
    return np.dtype(fields)


def _numpy_dtype_of_field(ftype: Any) -> np.dtype:
    if isinstance(ftype, str):
        return np.dtype(ftype).newbyteorder("<") if ftype not in ("bool",) else np.dtype(bool)
    name = ftype.get("name")
    conf = ftype.get("configuration", {})
    if name == "fixed_length_utf32":
        return np.dtype(f"<U{conf['length_bytes'] // 4}")
    if name in ("null_terminated_bytes", "fixed_length_bytes"):
        return np.dtype(f"S{conf['length_bytes']}")
    if name in ("struct", "structured"):
        return numpy_dtype_of_struct(ftype)
    raise FormatError(f"unsupported compound field data type {ftype!r}")


# --- documents -------------------------------------------------------------------------------
def _dtype_label(spec: ArraySpec) -> str:
    if spec.hdmf_dtype:
        return spec.hdmf_dtype
    if spec.kind == "reference":
        return "object_reference"
    if spec.kind == "string":
        return "str"
    return "bool" if spec.dtype.kind == "b" else dtype_name(spec.dtype)


def _chunks_for(spec: ArraySpec) -> tuple[int, ...]:
    if spec.chunks is not None:
        return tuple(max(1, int(c)) for c in spec.chunks)
    return tuple(max(1, int(s)) for s in spec.shape)


def _plain_document(spec: ArraySpec) -> dict[str, Any]:
    text = spec.kind in ("string", "reference")
    zdtype: Any = "str" if text else spec.dtype
    compressors, filters = spec.compressors, spec.filters
    if _is_default_pipeline(spec):
        doc = marshal.loads(_default_template_copy(zdtype if text else dtype_text(zdtype), len(spec.shape)))
        doc["chunk_grid"]["configuration"]["chunk_shape"] = list(_chunks_for(spec))
    else:
        compressors, filters = _zarr3_pipeline(filters, compressors, "string" if text else "numeric")
        doc = array_template(zdtype, _chunks_for(spec), compressors=compressors, filters=filters,
                             serializer=spec.serializer, shards=spec.shards)
    doc["shape"] = list(spec.shape)
    if spec.fill_value is not None and spec.kind == "numeric":
        doc["fill_value"] = _json_scalar(np.asarray(spec.fill_value, dtype=spec.dtype).item())
    doc.pop("dimension_names", None)
    if spec.dimension_names:
        doc["dimension_names"] = list(spec.dimension_names)
    return doc


def _is_default_pipeline(spec: ArraySpec) -> bool:
    return (_is_auto(spec.compressors) and _is_auto(spec.filters) and _is_auto(spec.serializer)
            and spec.shards is None)


@functools.lru_cache(maxsize=256)
def _default_template(zdtype: str, ndim: int) -> str:
    """The JSON zarr writes for this dtype with nwbzarr's default codecs (computed once per dtype)."""
    kind = "string" if zdtype == "str" else "numeric"
    dtype: Any = "str" if kind == "string" else np.dtype(zdtype)
    doc = array_template(dtype, (1,) * ndim, compressors=default_compressors(kind))
    return json.dumps(doc)


@functools.lru_cache(maxsize=256)
def _default_template_copy(zdtype: str, ndim: int) -> bytes:
    """``_default_template`` in ``marshal``'s form: a fresh copy of the document loads in half json's time."""
    return marshal.dumps(json.loads(_default_template(zdtype, ndim)))


@functools.lru_cache(maxsize=256)
def _default_chunk_encoder(zdtype: str, ndim: int) -> Any:
    """``single_chunk.single_chunk_encoder`` for the documents ``_default_template`` gives."""
    return single_chunk_encoder(json.loads(_default_template(zdtype, ndim)), ndim)


def _zarr3_pipeline(filters: Any, compressors: Any, kind: str) -> tuple[Any, Any]:
    """(compressors, filters) for zarr: numcodecs codecs as zarr 3 codecs (array filters kept as filters,
    byte filters such as Shuffle ahead of the compressors), nwbzarr's default for ``"auto"`` compressors."""
    if needs_translation(filters, compressors):
        array_filters, byte_filters = to_zarr3_codecs(filters, None)
        array_comps, byte_comps = to_zarr3_codecs(None, compressors)
        if _is_auto(compressors):
            byte_comps = [default_compressors(kind)]
        return byte_filters + byte_comps or None, array_filters + array_comps or "auto"
    if _is_auto(compressors):
        compressors = default_compressors(kind)
    return compressors, filters


def _is_auto(value: Any) -> bool:
    return isinstance(value, str) and value == "auto"


def _json_scalar(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    return value


def _compound_document(spec: ArraySpec) -> dict[str, Any]:
    fields = []
    fill = {}
    for name in spec.dtype.names:
        fdt = spec.dtype.fields[name][0]
        if fdt.kind == "U":
            fields.append({"name": name, "data_type": {"name": "fixed_length_utf32",
                                                      "configuration": {"length_bytes": fdt.itemsize}}})
            fill[name] = ""
        else:
            fields.append({"name": name, "data_type": "bool" if fdt.kind == "b" else fdt.name})
            fill[name] = False if fdt.kind == "b" else 0
    compressors, _ = _zarr3_pipeline(spec.filters, spec.compressors, "numeric")
    template = array_template(np.dtype("<i4"), _chunks_for(spec), compressors=compressors, filters=None)
    chunks = list(_chunks_for(spec))
    return {
        "shape": list(spec.shape),
        "data_type": {"name": "struct", "configuration": {"fields": fields}},
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill,
        "codecs": template["codecs"],
        "attributes": {},
        "zarr_format": 3,
        "node_type": "array",
        "storage_transformers": [],
    }


# --- values ------------------------------------------------------------------------------------
def encode_reference_attr(ref: ZarrReference) -> dict[str, Any]:
    body = {"source": ref.source, "path": ref.path}
    if ref.region is not None:
        body["region"] = ref.region
    return {REF_KEY: body}


def decode_attr_value(value: Any, where: str = "attribute") -> Any:
    """Attribute JSON -> Python, with ``{"_REFERENCE": ...}`` (and legacy object values) as ZarrReference."""
    try:
        if isinstance(value, dict):
            if REF_KEY in value:
                return ZarrReference.from_json(value[REF_KEY], f"reference in attribute {where}")
            if value.get(LEGACY_DTYPE_ATTR) == "object" and "value" in value:  # read as the legacy layout does
                return ZarrReference.from_json(value["value"], f"reference in attribute {where}")
    except ValueError as exc:
        raise FormatError(str(exc)) from None
    return value


def encode_reference_element(ref: ZarrReference) -> str:
    """A dataset element: the target path, or JSON text when the target is external or a region."""
    if ref.is_local and ref.region is None:
        return ref.path
    body = {"source": ref.source, "path": ref.path}
    if ref.region is not None:
        body["region"] = ref.region
    return json.dumps(body)


def decode_reference_element(value: Any) -> ZarrReference | None:
    if isinstance(value, ZarrReference):
        return value
    if isinstance(value, dict):
        return ZarrReference.from_json(value)
    if not value:
        return None
    if isinstance(value, str) and value.startswith("{"):
        return ZarrReference.from_json(parse_json(value, "reference"))
    return ZarrReference(".", str(value))


def _iter_flat(values: Any):
    if isinstance(values, np.ndarray):
        yield from values.reshape(-1)
    elif isinstance(values, (list, tuple)):
        for v in values:
            if isinstance(v, (list, tuple, np.ndarray)) and not isinstance(v, ZarrReference):
                yield from _iter_flat(v)
            else:
                yield v
    else:
        yield values


def _as_text_array(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind == "S" or arr.dtype.kind == "O":
        arr = map_objects(np.asarray(arr, dtype=object), _to_text)
    return arr.astype(object) if arr.dtype.kind != "O" else arr


def _to_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    iso = getattr(value, "isoformat", None)
    return iso() if iso is not None else str(value)


def _encode_compound(values: Any, spec: ArraySpec) -> np.ndarray:
    rows = values if isinstance(values, np.ndarray) and values.dtype.names else None
    out = np.zeros(spec.shape, dtype=spec.dtype)
    names = spec.dtype.names
    if rows is not None:
        for name in names:
            col = rows[name]
            out[name] = _encode_field(col, name in spec.ref_fields)
        return out
    flat = out.reshape(-1)
    for i, row in enumerate(_rows(values)):
        for j, name in enumerate(names):
            item = row[name] if isinstance(row, dict) else row[j]
            flat[i][name] = _encode_field_item(item, name in spec.ref_fields)
    return out


def _rows(values: Any):
    if isinstance(values, (list, tuple)) and values and not isinstance(values[0], (list, tuple, dict, np.void)):
        yield values  # a single scalar compound given as one row
    elif isinstance(values, np.void):
        yield values
    else:
        yield from values


def _encode_field(col: np.ndarray, is_ref: bool) -> np.ndarray:
    if is_ref or col.dtype.kind in "OS":
        return np.array([_encode_field_item(v, is_ref) for v in col.reshape(-1)], dtype=object).reshape(col.shape)
    return col


def _encode_field_item(item: Any, is_ref: bool) -> Any:
    if is_ref:
        return encode_reference_element(item) if item is not None else ""
    if isinstance(item, bytes):
        return item.decode("utf-8")
    return item


def _decode_compound(values: np.ndarray, ref_fields: tuple[str, ...]) -> np.ndarray:
    if not ref_fields and all(values.dtype.fields[n][0].kind != "U" for n in values.dtype.names):
        return values
    dt = np.dtype([(n, object if values.dtype.fields[n][0].kind == "U" else values.dtype.fields[n][0])
                   for n in values.dtype.names])
    out = np.empty(values.shape, dtype=dt)
    for name in values.dtype.names:
        col = values[name]
        if name in ref_fields:
            out[name] = map_objects(col.astype(object), decode_reference_element)
        elif col.dtype.kind == "U":
            out[name] = col.astype(object)
        else:
            out[name] = col
    return out

