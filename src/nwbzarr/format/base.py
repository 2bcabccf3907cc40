"""The contract every on-disk layout implements, and what a layout tells the backend about a node.

Only what both layouts share lives here; each layout's spellings (document names, attribute names, data
type names) live in its own module (``v3``, ``legacy``), reads and writes of documents in ``format.io``.
The on-disk conventions themselves are specified in docs/format.md.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from zarr.abc.store import Store
from zarr.buffer import default_buffer_prototype

from ..errors import (
    FormatError,
    ResourceLimitError,
)
from .reference import ZarrReference

BYTES_LABELS = frozenset({"bytes", "ascii", "bytes_", "string_"})
TEXT_LABELS = frozenset({"str", "str_", "text", "utf", "utf8", "utf-8", "unicode", "isodatetime", "datetime"})


MAX_JSON_DEPTH = 128  # nesting levels of one JSON document: far above any NWB file, far below Python's stack
MAX_NODE_DEPTH = 100  # groups nested in groups: NWB files use fewer than 10; HDMF builds trees recursively


@runtime_checkable
class StoredArray(Protocol):
    """What a layout's ``open_array``/``open_array_for_write`` return: an array of the store, read and
    written asynchronously (zarr's ``AsyncArray``, or one of the legacy layout's object arrays)."""

    @property
    def shape(self) -> tuple[int, ...]:
        """Stored shape (a legacy ``"scalar"`` is ``(1,)`` here; ``NodeInfo.scalar_as_1d`` says so)."""

    @property
    def dtype(self) -> Any:
        """Stored element type: a numpy dtype, or zarr's data type object (``to_native_dtype()``)."""

    @property
    def chunks(self) -> tuple[int, ...]:
        """Shape of one chunk (of the inner chunk when sharded)."""

    async def getitem(self, selection: Any) -> Any:
        """The stored values at ``selection`` (a numpy array, or a scalar for a 0-d array)."""

    async def setitem(self, selection: Any, values: Any) -> None:
        """Store ``values`` (already encoded by ``Layout.encode_array_values``) at ``selection``."""


@dataclass
class NodeInfo:
    """One group or array as a layout reads it: user attributes, links and dataset typing.

    Each layout subclasses it to answer the questions its own document spelling answers (``is_compound``,
    ``is_fixed_length_bytes``, ``stored_as_text``)."""

    path: str
    kind: str  # "group" or "array"
    attrs: dict[str, Any]
    links: list[tuple[str, ZarrReference]] = field(default_factory=list)
    document: dict[str, Any] = field(default_factory=dict)
    hdmf_dtype: str | None = None
    ref_fields: tuple[str, ...] = ()
    scalar_as_1d: bool = False

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1] if self.path else ""

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.document.get("shape", ()))

    @property
    def is_compound(self) -> bool:
        """A compound (structured) array."""
        return False

    @property
    def is_reference(self) -> bool:
        return self.hdmf_dtype in ("object_reference", "object", "region_reference")

    @property
    def is_fixed_length_bytes(self) -> bool:
        """Fixed-length bytes, by the metadata document alone."""
        return False

    @property
    def stored_as_text(self) -> bool:
        """An array whose stored data type is text itself (whatever its dtype label says)."""
        return False

    @property
    def text_type(self) -> type | None:
        """``str`` or ``bytes`` for a text array, else None: what its values read as (an array stored as
        text gives ``str`` whatever its dtype label; otherwise the label decides, as the layouts decode it)."""
        if self.kind != "array" or self.is_reference or self.is_compound:
            return None
        if self.stored_as_text:
            return str
        label = (self.hdmf_dtype or "").lower()
        if label in BYTES_LABELS:
            return bytes
        return str if label in TEXT_LABELS else None


@dataclass
class ArraySpec:
    """What the backend asks a layout to create: shape, element kind, chunking and codecs."""

    shape: tuple[int, ...]
    kind: str  # "numeric", "string", "reference", "compound"
    dtype: np.dtype | None = None  # numeric / compound numpy dtype
    chunks: tuple[int, ...] | None = None
    compressors: Any = "auto"
    filters: Any = "auto"
    serializer: Any = "auto"
    shards: tuple[int, ...] | None = None
    fill_value: Any = None
    hdmf_dtype: str | None = None  # label written as the layout's dtype attribute
    ref_fields: tuple[str, ...] = ()
    dimension_names: list[str] | None = None

    @property
    def is_scalar(self) -> bool:
        return len(self.shape) == 0


class Layout(ABC):
    """One on-disk convention for HDMF data in Zarr: documents out on write, ``NodeInfo`` in on read."""

    name: str
    zarr_format: int

    # --- reading -------------------------------------------------------------------------
    @abstractmethod
    async def load_nodes(self, store: Store, use_consolidated: bool = True,
                         seen: dict[str, Any] | None = None) -> dict[str, NodeInfo]:
        """Every node of the store by relative path ('' is the root); ``seen``: documents ``detect_layout``
        just read (key -> Buffer or None), not asked again."""

    @abstractmethod
    def open_array(self, store: Store, node: NodeInfo) -> StoredArray:
        """The node's array, opened lazily (nothing is read until ``getitem``)."""

    def single_chunk(self, node: NodeInfo) -> Any:
        """Where a small numeric array's only chunk is and how to decode it without zarr
        (``format.single_chunk.SingleChunk``), or None: open it with ``open_array``."""
        return None

    async def read_small_arrays(self, store: Store, nodes: list[NodeInfo]) -> list[np.ndarray]:
        """Whole values of several small arrays (scalars); layouts may do this in one batch."""
        from .._private_api import bounded_map
        from ..storage.remote import request_limit

        async def one(node: NodeInfo) -> np.ndarray:
            try:
                return await self.open_array(store, node).getitem(...)
            except FormatError:  # names the store, the dataset and what is wrong already
                raise
            except Exception as exc:
                raise OSError(f"cannot read dataset /{node.path}: {exc}") from exc

        # At most ``request_limit()`` arrays at once, but no slot of the shared limit held around a read: an
        # object array's chunk reads take those slots themselves, and holding one here while waiting for
        # another deadlocks as soon as more arrays than slots are read (cached specs of a legacy store).
        return list(await bounded_map(((n,) for n in nodes), one, limit=request_limit()))

    @abstractmethod
    def decode_array_values(self, node: NodeInfo, values: np.ndarray) -> np.ndarray:
        """Turn stored element values into what HDMF expects (text as ``str``, references decoded)."""

    # --- writing -------------------------------------------------------------------------
    @abstractmethod
    def encode_attributes(self, attrs: dict[str, Any], links: list[tuple[str, ZarrReference]]) -> dict:
        """JSON-ready attributes for a node, references and links encoded the layout's way."""

    @abstractmethod
    def group_documents(self, path: str, attrs: dict[str, Any]) -> dict[str, dict]:
        """Metadata documents (key -> JSON dict) of a group."""

    @abstractmethod
    def array_documents(self, path: str, spec: ArraySpec, attrs: dict[str, Any]) -> dict[str, dict]:
        """Metadata documents (key -> JSON dict) of an array."""

    @abstractmethod
    def attributes_of(self, path: str, documents: dict[str, dict]) -> dict[str, Any]:
        """The attributes object of node ``path`` inside its ``documents``, to edit in place (created empty
        when the documents have none)."""

    def encode_single_chunk(self, path: str, documents: dict[str, dict], values: np.ndarray,
                            spec: ArraySpec | None = None) -> tuple[str, Any] | None:
        """(chunk key, stored bytes) of the array ``path`` just described by ``documents`` (built from ``spec``,
        when given), when it is a small numeric array in one plain chunk that the layout encodes without
        zarr's objects; else None."""
        return None

    @abstractmethod
    def open_array_for_write(self, store: Store, path: str, documents: dict[str, dict]) -> StoredArray:
        """The array just described by ``documents`` (from ``array_documents``), for ``setitem``."""

    @abstractmethod
    def encode_array_values(self, spec: ArraySpec, values: Any) -> np.ndarray:
        """Element values as stored (references as the layout encodes them)."""

    @abstractmethod
    def consolidated_documents(self, documents: dict[str, dict]) -> dict[str, dict]:
        """The documents to write so that consolidated metadata matches ``documents`` (key -> doc)."""

    def encode_consolidated(self, documents: dict[str, dict], encoded: dict[str, bytes]) -> dict[str, bytes]:
        """``consolidated_documents`` as stored bytes; ``encoded`` holds the ``encode_json`` bytes of some of
        ``documents`` (as this write stored them), which a layout may splice in instead of encoding again."""
        return {key: encode_json(doc) for key, doc in self.consolidated_documents(documents).items()}

    @abstractmethod
    def resize_documents(self, path: str, documents: dict[str, dict], shape: tuple[int, ...]) -> None:
        """Set the array's shape in its documents (in place)."""

    @abstractmethod
    def documents_of(self, node: NodeInfo) -> dict[str, dict]:
        """The metadata documents (key -> JSON dict) a node was read from, for rewriting consolidated metadata."""


def map_objects(values: np.ndarray, fn: Any) -> np.ndarray:
    """An object array of ``fn`` applied to every element (text and reference decoding)."""
    out = np.empty(values.shape, dtype=object)
    flat_in, flat_out = values.reshape(-1), out.reshape(-1)
    for i in range(flat_in.size):
        flat_out[i] = fn(flat_in[i])
    return out


def encode_json(doc: dict[str, Any]) -> bytes:
    """Serialise a metadata document (NaN and infinities as JSON's non-standard literals, as zarr does);
    a document nested deeper than nwbzarr reads back is refused."""
    where = "metadata document being written"
    try:
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=json_default).encode("utf-8")
    except RecursionError:  # far past the limit: the walk names the place
        check_json_depth(doc, where)
        raise
    if nests_past(text, MAX_JSON_DEPTH):
        check_json_depth(doc, where)
    return text


def nests_past(text: bytes, limit: int) -> bool:
    """Whether lists and objects nest deeper than ``limit`` in JSON text; text with fewer brackets than that
    cannot, so most documents are not scanned."""
    return text.count(b"[") + text.count(b"{") > limit and json_nesting(text) > limit


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPENING, _CLOSING = np.zeros(256, np.int8), np.zeros(256, np.int8)
_OPENING[[ord("["), ord("{")]] = 1
_CLOSING[[ord("]"), ord("}")]] = 1


def json_nesting(text: bytes) -> int:
    """How deep lists and objects nest in JSON text: its strings are dropped, then the brackets counted
    (UTF-8 never puts a bracket's byte inside another character)."""
    codes = np.frombuffer(_JSON_STRING.sub(b"", text), dtype=np.uint8)
    steps = _OPENING[codes].astype(np.int32) - _CLOSING[codes]
    return int(np.cumsum(steps).max(initial=0))


def json_default(value: Any) -> Any:
    """JSON for what ``json`` does not serialise itself: numpy scalars and arrays, sets (sorted), and
    objects with ``to_dict`` (zarr's metadata parts); anything else is refused with a TypeError."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"value {value!r} of type {type(value).__name__} cannot be stored as JSON")


def document_of(raw: bytes, key: str) -> dict[str, Any]:
    """A stored metadata document's bytes as a JSON object, refused with a FormatError naming ``key``."""
    doc = parse_json(raw, f"metadata document {key!r}")
    if not isinstance(doc, dict):
        raise FormatError(f"metadata document {key!r} is a {type(doc).__name__}, not a JSON object")
    return doc


def parse_json(raw: bytes | str, where: str) -> Any:
    """JSON text as Python values, refused with a FormatError naming ``where`` when it is not JSON or
    nests deeper than ``MAX_JSON_DEPTH`` (so nothing that handles it later can run out of stack)."""
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise ResourceLimitError(f"{where} nests lists or objects deeper than {MAX_JSON_DEPTH} levels") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{where} is not valid JSON: {exc}") from exc
    check_json_depth(doc, where)
    return doc


def check_node_depth(path: str) -> None:
    """Refuse a node nested deeper than ``MAX_NODE_DEPTH`` groups (reading it would exhaust the stack)."""
    depth = path.count("/") + 1 if path else 0
    if depth > MAX_NODE_DEPTH:
        shown = path if len(path) <= 80 else path[:80] + "..."
        raise ResourceLimitError(
            f"node /{shown} is nested {depth} groups deep; nwbzarr reads at most {MAX_NODE_DEPTH} levels"
        )


def check_json_depth(doc: Any, where: str) -> None:
    """Raise a ResourceLimitError naming the place in ``doc`` where nesting passes ``MAX_JSON_DEPTH``."""
    if not _too_deep(doc):
        return
    place = _deepest_place(doc)
    shown = "/".join(place[:8]) + ("/..." if len(place) > 8 else "")
    raise ResourceLimitError(f"{where} nests lists or objects deeper than {MAX_JSON_DEPTH} levels (at {shown})")


def _children(value: Any) -> Any:
    return value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()


def _too_deep(doc: Any) -> bool:
    """True when containers nest deeper than MAX_JSON_DEPTH (an iterative walk: no recursion)."""
    level, depth = [doc] if isinstance(doc, (dict, list)) else [], 1
    while level:
        if depth > MAX_JSON_DEPTH:
            return True
        level = [item for value in level for item in _children(value) if isinstance(item, (dict, list))]
        depth += 1
    return False


def _deepest_place(doc: Any) -> tuple[str, ...]:
    """The keys leading to a container past MAX_JSON_DEPTH (only walked once a document is refused)."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(doc, ())]
    while stack:
        value, place = stack.pop()
        if len(place) >= MAX_JSON_DEPTH:
            return place
        items = value.items() if isinstance(value, dict) else enumerate(value)
        stack.extend((item, (*place, str(key))) for key, item in items if isinstance(item, (dict, list)))
    return ()


def to_buffer(data: bytes):
    """Wrap bytes in zarr's default CPU buffer."""
    return default_buffer_prototype().buffer.from_bytes(data)
