"""``verify()`` for the few-files stores: every container opens, every stored chunk decodes.

Works through public methods of the store only (``VerifiableStore``), and decodes through an
``ArrayOpener`` its caller supplies: how chunks may safely be decoded (restricted unpickling, bounded
decompression) is the format layer's knowledge, which registers its opener here at import
(``register_array_opener``) so that ``store.verify()`` needs no argument.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from zarr.abc.store import Store

from nwbzarr.storage._routing import ArrayLayout
from nwbzarr.storage.progress import Progress, progress_bar

ArrayOpener = Callable[[Store, str], Any]
"""Opens the array at a path of a (read-only) store as a ``zarr.Array`` whose reads decode its chunks."""

_registered_opener: ArrayOpener | None = None


@dataclass
class VerifyReport:
    """What ``verify()`` checked and every problem found (empty ``problems`` means all good)."""

    containers: int = 0
    chunks: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class VerifiableStore(Protocol):
    """What verifying needs of a few-files store."""

    def with_read_only(self, read_only: bool = False) -> Store: ...

    def container_files(self) -> list[str]: ...

    def iter_container(self, rel: str) -> Iterator[tuple[str, bytes | None]]: ...

    def array_layouts(self) -> list[ArrayLayout]: ...

    def list_prefix_sync(self, prefix: str) -> list[str]: ...


def register_array_opener(opener: ArrayOpener) -> None:
    """Make ``opener`` the one ``store.verify()`` decodes chunks with when its caller gives none."""
    global _registered_opener
    _registered_opener = opener


def registered_array_opener() -> ArrayOpener:
    """The registered opener; an error if none is (importing ``nwbzarr`` registers the safe one)."""
    if _registered_opener is None:
        raise RuntimeError("no array opener registered for verify(): import nwbzarr, or pass open_array")
    return _registered_opener


def _check_containers(store: VerifiableStore, report: VerifyReport) -> None:
    for rel in store.container_files():
        report.containers += 1
        try:
            for member, data in store.iter_container(rel):
                if data is None:
                    report.problems.append(f"{rel}: member {member!r} listed but unreadable")
        except Exception as exc:
            report.problems.append(f"{rel}: container does not open: {exc!r}")


def _check_array(store: VerifiableStore, open_array: ArrayOpener, layout: ArrayLayout, report: VerifyReport) -> None:
    try:
        arr = open_array(store.with_read_only(True), layout.path)
    except Exception as exc:
        report.problems.append(f"{layout.path or '/'}: array metadata does not open: {exc!r}")
        return
    outer = arr.shards or arr.chunks
    try:
        keys = store.list_prefix_sync(f"{layout.path}/" if layout.path else "")
    except Exception as exc:
        report.problems.append(f"{layout.path or '/'}: chunks cannot be listed: {exc!r}")
        return
    for key in keys:
        idx = layout.parse(key)
        if idx is None:
            continue
        report.chunks += 1
        sel = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(idx, outer, arr.shape))
        if any(sl.start >= sl.stop for sl in sel):
            report.problems.append(f"{key}: chunk lies outside the array shape {arr.shape}")
            continue
        try:
            arr[sel]
        except Exception as exc:
            report.problems.append(f"{key}: chunk does not decode: {exc!r}")


def verify_store(store: VerifiableStore, open_array: ArrayOpener, progress: Progress = False) -> VerifyReport:
    """Open every container, read every member, and decode every stored chunk of every array; ``progress``:
    a bar of arrays checked (``storage.progress``: True, False, or None for "when stderr is a terminal")."""
    report = VerifyReport()
    _check_containers(store, report)
    layouts = list(store.array_layouts())
    with progress_bar(progress, "verify", unit="array", total=len(layouts)) as bar:
        for layout in layouts:
            _check_array(store, open_array, layout, report)
            bar.update(1)
    return report
