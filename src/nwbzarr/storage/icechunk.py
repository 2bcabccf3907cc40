"""Icechunk repositories as nwbzarr stores: each write or append is one transaction, committed at close.

An IO opened on ``icechunk:///path``, ``icechunk+s3://bucket/prefix`` or an ``icechunk.Repository`` writes
into a writable session on a branch and commits it as one snapshot when the IO closes; a writer that dies
before that leaves the branch at its previous snapshot. A writer that finds the branch moved on rebases
onto it when the two changed different nodes, and otherwise gets :class:`IcechunkConflictError`. Older
snapshots stay readable (``?snapshot=ID`` or ``storage_options={"snapshot": ID}``, mode ``r``).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import AsyncGenerator, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import icechunk
from zarr.abc.buffer import Buffer, BufferPrototype
from zarr.abc.store import ByteRequest, Store
from zarr.storage import WrapperStore

from ..errors import IcechunkConflictError
from .local_urls import local_url_path

__all__ = ["IcechunkConflictError", "IcechunkNWBStore", "IcechunkTransaction", "as_store", "open_icechunk",
           "open_icechunk_url"]

SCHEMES = ("icechunk", "icechunk+file", "icechunk+s3")
_V2_NAMES = frozenset((".zgroup", ".zarray", ".zattrs", ".zmetadata"))
_SESSION_OPTIONS = ("branch", "snapshot", "tag", "message")
_S3_OPTIONS = ("endpoint_url", "region", "allow_http", "access_key_id", "secret_access_key", "session_token",
               "anonymous", "force_path_style")


def _is_v2_key(key: str) -> bool:
    return key.rsplit("/", 1)[-1] in _V2_NAMES


class IcechunkTransaction:
    """The writable session an IO owns: committed (rebased first if the branch moved) or discarded at close."""

    def __init__(self, repository: icechunk.Repository, name: str, branch: str, message: str | None = None) -> None:
        self.repository = repository
        self.session = repository.writable_session(branch)
        self.name = name
        self.branch = branch
        self.message = message or "nwbzarr write"
        self.failed = False
        self.snapshot_id: str | None = None

    def commit(self) -> str | None:
        """Commit the session's changes as one snapshot (None when there is nothing to commit, or when a write
        in it failed: then nothing is committed); a fresh session on the branch tip follows either way."""
        try:
            if self.failed or not self.session.has_uncommitted_changes:
                return None
            solver = icechunk.BasicConflictSolver(on_chunk_conflict=icechunk.VersionSelection.Fail)
            try:
                self.snapshot_id = self.session.commit(self.message, rebase_with=solver, rebase_tries=20)
            except icechunk.RebaseFailedError as err:
                raise IcechunkConflictError(self._conflict_message(_conflict_paths(err))) from err
            except icechunk.ConflictError as err:
                raise IcechunkConflictError(self._conflict_message([])) from err
            return self.snapshot_id
        finally:
            self._renew()

    def discard(self) -> None:
        """Drop the uncommitted changes; the IO commits nothing at close, the branch keeps its snapshot."""
        self.failed = True
        if self.session.has_uncommitted_changes:
            self.session.discard_changes()

    def _renew(self) -> None:
        self.session = self.repository.writable_session(self.branch)
        self.failed = False

    def _conflict_message(self, paths: list[str]) -> str:
        where = f" (both changed {', '.join(paths)})" if paths else ""
        return (f"{self.name}: another writer committed to branch {self.branch!r} while this IO was open and "
                f"its changes conflict with this IO's{where}; nothing of this IO was committed. Open the file "
                "again (mode 'a') and repeat the change on top of the other writer's.")


def _conflict_paths(err: icechunk.RebaseFailedError) -> list[str]:
    return sorted({str(c.path) for c in getattr(err, "conflicts", []) or []})


class IcechunkNWBStore(WrapperStore[icechunk.IcechunkStore]):
    """An Icechunk session's store, in the Zarr v3 layout only, carrying the transaction an IO commits at close.

    Icechunk holds no Zarr v2 documents: looking one up finds nothing and writing one raises a clear error.
    Concurrency: any number of readers; writers each work in their own session, and their commits are
    serialised by the repository (a conflicting commit raises :class:`IcechunkConflictError`).
    """

    supports_consolidated_metadata = False  # Icechunk keeps all metadata in one snapshot document
    supports_manifest = False  # only Zarr keys are accepted; snapshots carry Icechunk's own checksums
    documents_before_chunks = True  # Icechunk refuses a chunk of an array whose zarr.json is not written yet
    supports_multiprocess_writes = False  # a writable session is one process's (see nwbzarr.parallel)
    supports_fork = True

    def __init__(self, store: icechunk.IcechunkStore, transaction: IcechunkTransaction | None = None,
                 name: str = "icechunk repository") -> None:
        super().__init__(store)
        self.transaction = transaction
        self.name = name

    def _with_store(self, store: icechunk.IcechunkStore) -> IcechunkNWBStore:
        return type(self)(store, None, self.name)

    def commit_transaction(self) -> str | None:
        """Commit what was written since the last commit as one snapshot (ZarrIO calls this at close);
        the store then writes into a new session on the branch tip. Returns the new snapshot id."""
        if self.transaction is None:
            return None
        try:
            return self.transaction.commit()
        finally:
            self._store = self.transaction.session.store

    def discard_transaction(self) -> None:
        """Drop what was written since the last commit (ZarrIO calls this when a write raised)."""
        if self.transaction is not None:
            self.transaction.discard()

    @property
    def session(self) -> icechunk.Session:
        return self._store.session

    @property
    def path(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"IcechunkNWBStore({self.name!r}, read_only={self.read_only})"

    def __str__(self) -> str:
        return self.name

    async def _get_many(self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
                        ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        for key, prototype, byte_range in requests:
            yield key, await self.get(key, prototype, byte_range)

    # Listings are read to the end before the first key is handed out: a caller that stops early would
    # otherwise leave Icechunk's stream running, and its task then fails as the interpreter exits.
    async def list(self) -> AsyncGenerator[str, None]:
        for key in [k async for k in self._store.list()]:
            yield key

    async def list_prefix(self, prefix: str) -> AsyncGenerator[str, None]:
        for key in [k async for k in self._store.list_prefix(prefix)]:
            yield key

    async def list_dir(self, prefix: str) -> AsyncGenerator[str, None]:
        for key in [k async for k in self._store.list_dir(prefix)]:
            yield key

    def accepts_key(self, key: str) -> bool:
        """Icechunk holds Zarr keys only: no root-level sidecar such as nwbzarr's chunk manifest (v2 keys pass
        here, to be refused with a clear message when written)."""
        return "/" in key or key == "zarr.json" or _is_v2_key(key)

    async def exists(self, key: str) -> bool:
        return False if _is_v2_key(key) or not self.accepts_key(key) else await self._store.exists(key)

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
                  ) -> Buffer | None:
        if _is_v2_key(key) or not self.accepts_key(key):
            return None
        value = await self._store.get(key, prototype, byte_range)
        if value is not None and byte_range is None and key.endswith("zarr.json"):
            return prototype.buffer.from_bytes(restore_non_finite(value.to_bytes()))
        return value

    async def get_partial_values(self, prototype: BufferPrototype,
                                 key_ranges: Iterable[tuple[str, ByteRequest | None]]) -> list[Buffer | None]:
        key_ranges = list(key_ranges)
        return [None if _is_v2_key(k) else await self.get(k, prototype, r) for k, r in key_ranges]

    async def set(self, key: str, value: Buffer) -> None:
        await self._store.set(key, self._storable(key, value))

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        await self._store.set_if_not_exists(key, self._storable(key, value))

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        await self.set_many(values)

    async def set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        """Metadata documents first, parents before children (Icechunk takes a chunk only for an existing
        array), then the chunks concurrently."""
        values = list(values)
        documents = sorted((kv for kv in values if kv[0].endswith("zarr.json")), key=lambda kv: kv[0].count("/"))
        for key, value in documents:
            await self.set(key, value)
        await asyncio.gather(*(self.set(k, v) for k, v in values if not k.endswith("zarr.json")))

    def _storable(self, key: str, value: Buffer) -> Buffer:
        """What Icechunk accepts for ``key``: v3 only, and documents in strict JSON (see encode_non_finite)."""
        self._refuse_v2(key)
        if key.endswith("zarr.json"):
            encoded = encode_non_finite(value.to_bytes())
            if encoded is not None:
                return type(value).from_bytes(encoded)
        return value

    def _refuse_v2(self, key: str) -> None:
        if _is_v2_key(key):
            if self.transaction is not None:
                self.transaction.discard()
            raise ValueError(f"{self.name} is an Icechunk repository, which holds only the Zarr v3 layout: "
                             f"cannot write {key!r}; write with zarr_format=3 (the default), not the legacy layout")


# ---------------------------------------------------------------------- non-finite attribute values
# Zarr writes NaN and infinities in attributes as JSON's non-standard literals; Icechunk parses every
# zarr.json strictly and refuses them. They are stored as the strings "NaN", "Infinity", "-Infinity", and the
# attribute NON_FINITE lists where they stood, so that reading through nwbzarr gives the floats back.

NON_FINITE = "_nwbzarr_non_finite"
_NON_FINITE_TEXT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def encode_non_finite(document: bytes) -> bytes | None:
    """``document`` as Icechunk takes it (None: unchanged): non-finite attribute values as strings, their
    places recorded, and no consolidated metadata (Icechunk keeps none; a copied one would go stale)."""
    if b"NaN" not in document and b"Infinity" not in document and b"consolidated_metadata" not in document:
        return None
    doc = json.loads(document)
    if not isinstance(doc, dict):
        return None
    dropped = doc.pop("consolidated_metadata", None) is not None
    attributes = doc.get("attributes")
    places: list[list[str | int]] = []
    if isinstance(attributes, dict):
        doc["attributes"] = _strings_for_non_finite(attributes, [], places)
    if places:
        doc["attributes"][NON_FINITE] = places
    return json.dumps(doc, allow_nan=False).encode() if places or dropped else None


def restore_non_finite(document: bytes) -> bytes:
    """The document as written: the recorded places hold floats again and the record is gone."""
    if NON_FINITE.encode() not in document:
        return document
    doc = json.loads(document)
    attributes = doc.get("attributes", {})
    for place in attributes.pop(NON_FINITE, []):
        parent = attributes
        for step in place[:-1]:
            parent = parent[step]
        parent[place[-1]] = _NON_FINITE_TEXT[parent[place[-1]]]
    return json.dumps(doc, allow_nan=True).encode()


def _strings_for_non_finite(value: Any, place: list[str | int], places: list[list[str | int]]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        places.append(place)
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _strings_for_non_finite(v, [*place, k], places) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings_for_non_finite(v, [*place, i], places) for i, v in enumerate(value)]
    return value


# ---------------------------------------------------------------------- opening


def open_icechunk(target: icechunk.Repository | icechunk.Storage, mode: str = "r", *, branch: str = "main",
                  snapshot: str | None = None, tag: str | None = None, message: str | None = None,
                  name: str | None = None) -> IcechunkNWBStore:
    """A store on a repository: read-only at a branch tip, tag or snapshot (mode 'r'), or a writable session
    on ``branch`` (other modes; a missing repository is created) whose changes commit when the IO closes."""
    read_only = mode == "r"
    if (snapshot or tag) and not read_only:
        raise ValueError(f"snapshot and tag are read-only points in history: open them with mode 'r' (got "
                         f"mode {mode!r}); writes go to a branch (branch={branch!r})")
    if snapshot and tag:
        raise ValueError("give snapshot= or tag=, not both")
    name = name or "icechunk repository"
    repo = target if isinstance(target, icechunk.Repository) else _repository(target, read_only, name)
    if read_only:
        session = _readonly_session(repo, branch, snapshot, tag, name)
        return IcechunkNWBStore(session.store, None, name)
    transaction = IcechunkTransaction(repo, name, branch, message)
    return IcechunkNWBStore(transaction.session.store, transaction, name)


def _repository(storage: icechunk.Storage, read_only: bool, name: str) -> icechunk.Repository:
    if not icechunk.Repository.exists(storage):
        if read_only:
            raise FileNotFoundError(f"{name} does not exist (no Icechunk repository there); mode 'r' reads an "
                                    "existing one, modes 'a', 'w', 'w-' and 'x' create it")
        return icechunk.Repository.create(storage)
    return icechunk.Repository.open(storage)


def _readonly_session(repo: icechunk.Repository, branch: str, snapshot: str | None, tag: str | None,
                      name: str) -> icechunk.Session:
    try:
        if snapshot:
            return repo.readonly_session(snapshot_id=snapshot)
        if tag:
            return repo.readonly_session(tag=tag)
        return repo.readonly_session(branch)
    except icechunk.IcechunkError as err:
        what = f"snapshot {snapshot!r}" if snapshot else f"tag {tag!r}" if tag else f"branch {branch!r}"
        raise LookupError(f"{name} has no {what}: {err}") from err


def open_icechunk_url(spec: str, mode: str = "r", **kwargs: Any) -> IcechunkNWBStore:
    """Open ``icechunk:///absolute/dir``, ``icechunk://relative/dir`` (or ``icechunk+file://``) and
    ``icechunk+s3://bucket/prefix``. ``branch``, ``snapshot``, ``tag``, ``message`` and the S3 options
    (``endpoint_url``, ``region``, ``allow_http``, ``anonymous``, credentials) come from the URL's query or
    from ``kwargs`` (``storage_options``); S3 credentials default to the environment's."""
    parts = urlsplit(spec)
    scheme = parts.scheme.lower()
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    options.update(kwargs)
    unknown = set(options) - set(_SESSION_OPTIONS) - (set(_S3_OPTIONS) if scheme == "icechunk+s3" else set())
    if unknown:
        raise ValueError(f"{spec!r}: unknown Icechunk option(s) {sorted(unknown)}; known: "
                         f"{sorted(_SESSION_OPTIONS + (_S3_OPTIONS if scheme == 'icechunk+s3' else ()))}")
    session_options = {k: options.pop(k) for k in _SESSION_OPTIONS if k in options}
    if scheme == "icechunk+s3":
        storage, name = _s3_storage(parts, options), f"icechunk+s3://{parts.netloc}{parts.path}"
    elif scheme in ("icechunk", "icechunk+file"):
        path = _local_path(spec)
        storage, name = icechunk.local_filesystem_storage(path), f"icechunk repository {path}"
    else:
        raise ValueError(f"{spec!r} is not an Icechunk URL (schemes: {', '.join(SCHEMES)})")
    return open_icechunk(storage, mode, name=name, **session_options)


def _local_path(spec: str) -> str:
    """The repository directory of 'icechunk:///abs/dir' or 'icechunk://rel/dir' (nwbzarr.storage.local_urls)."""
    return os.path.abspath(local_url_path(spec, allow_query=True))


def _s3_storage(parts: Any, options: dict[str, Any]) -> icechunk.Storage:
    if not parts.netloc:
        raise ValueError(f"icechunk+s3://{parts.path} names no bucket: use icechunk+s3://bucket/prefix")
    flags = {k: _as_bool(options.pop(k)) for k in ("allow_http", "anonymous", "force_path_style") if k in options}
    endpoint = options.get("endpoint_url")
    if endpoint and str(endpoint).startswith("http://"):
        flags.setdefault("allow_http", True)
        flags.setdefault("force_path_style", True)
    if "access_key_id" not in options and not flags.get("anonymous"):
        flags["from_env"] = True
    return icechunk.s3_storage(bucket=parts.netloc, prefix=parts.path.strip("/") or None, **options, **flags)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean option (true/false), got {value!r}")
    return bool(value)


def as_store(obj: Any, read_only: bool) -> Store | None:
    """The nwbzarr store for an Icechunk object given as an IO's path, or None for anything else.

    A ``Repository`` opens the tip of ``main`` (the IO commits at close); a ``Session`` or an
    ``IcechunkStore`` is the caller's own transaction: nwbzarr writes into it and the caller commits."""
    if isinstance(obj, IcechunkNWBStore):
        return obj.with_read_only(True) if read_only and not obj.read_only else obj
    if isinstance(obj, icechunk.Repository):
        return open_icechunk(obj, "r" if read_only else "a")
    if isinstance(obj, icechunk.Session):
        obj = obj.store
    if isinstance(obj, icechunk.IcechunkStore):
        store = IcechunkNWBStore(obj, None, f"icechunk session on snapshot {obj.session.snapshot_id}")
        return store.with_read_only(True) if read_only and not store.read_only else store
    return None
