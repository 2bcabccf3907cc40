"""``verify()`` for the few-files stores: every container opens, every stored chunk decodes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import zarr

from nwbzarr.storage._fewfiles import VerifyReport
from nwbzarr.storage._routing import ArrayLayout

if TYPE_CHECKING:
    from nwbzarr.storage._fewfiles import ContainerStore


def _check_containers(store: ContainerStore, files: list[str], report: VerifyReport) -> None:
    for rel in files:
        if store._router.container_lead(rel) is None:
            continue
        report.containers += 1
        path = store.root / rel
        try:
            with store._locks.hold(rel, shared=True):
                for member in store._c_members(path):
                    if store._c_read(path, member, None) is None:
                        report.problems.append(f"{rel}: member {member!r} listed but unreadable")
        except Exception as exc:  # noqa: BLE001 - every failure is a finding to report
            report.problems.append(f"{rel}: container does not open: {exc!r}")


def _array_paths(store: ContainerStore, files: list[str]) -> list[ArrayLayout]:
    layouts = {}
    for rel in files:
        parent, _, name = rel.rpartition("/")
        if name in ("zarr.json", ".zarray"):
            node = store._router.owner(parent)
            if node is not None and node.path == parent:
                layouts[parent] = node
    return [layouts[p] for p in sorted(layouts)]


def _check_array(store: ContainerStore, layout: ArrayLayout, report: VerifyReport) -> None:
    from nwbzarr.format.safe_codecs import safe_zarr_array  # pickles restricted, decoders bounded

    try:
        arr = safe_zarr_array(zarr.open_array(store.with_read_only(True), path=layout.path, mode="r"))
    except Exception as exc:  # noqa: BLE001
        report.problems.append(f"{layout.path or '/'}: array metadata does not open: {exc!r}")
        return
    outer = arr.shards or arr.chunks
    try:
        keys = store._list_blocking(f"{layout.path}/" if layout.path else "")
    except Exception as exc:  # noqa: BLE001
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
        except Exception as exc:  # noqa: BLE001
            report.problems.append(f"{key}: chunk does not decode: {exc!r}")


def verify_store(store: ContainerStore, progress: bool = False) -> VerifyReport:
    """Open every container, read every member, and decode every stored chunk of every array."""
    report = VerifyReport()
    store._router.invalidate()
    files = list(store._iter_files(""))
    _check_containers(store, files, report)
    layouts = _array_paths(store, files)
    if progress:
        from tqdm.auto import tqdm

        layouts = list(tqdm(layouts, desc="verify", unit="array"))
    for layout in layouts:
        _check_array(store, layout, report)
    return report
