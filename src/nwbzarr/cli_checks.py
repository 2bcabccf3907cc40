"""The checks ``nwbzarr`` runs before a command starts work: option values (each bad one named as the option
it came in, a usage error), the input file (missing, or neither HDF5 nor Zarr: a failure naming the path) and
the output name (``output_names``)."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

import typer

from .output_names import FORMATS, check_output
from .storage.url import is_hdf5_file, is_url

GRAPH_FORMATS = ("json", "graphml", "dot")
MIGRATE_LAYOUTS = ("", "v3", "v2")
ZARR_FORMATS = (3, 2)
VERSIONS_SHOWN = ("zarr", "hdmf", "pynwb", "h5py", "numcodecs")


def check_jobs(value: int) -> int:
    """``--jobs``: 1 or more processes, or -1 for all cores."""
    if value < 1 and value != -1:
        raise typer.BadParameter(f"{value} is not a number of processes: use 1 or more, or -1 for all cores")
    return value


def check_zarr_format(value: int) -> int:
    """``--zarr-format``: 3 (the current layout) or 2 (legacy)."""
    if value not in ZARR_FORMATS:
        raise typer.BadParameter(f"{value} is not a Zarr format nwbzarr writes: use 3 (current layout) or 2 "
                                 "(legacy, hdmf-zarr <= 0.13)")
    return value


def check_links(value: str) -> str:
    """``--links``: one of the external-link policies of ``ZarrIO``."""
    from .backend.links import POLICIES

    if value not in POLICIES:
        raise typer.BadParameter(f"unknown policy {value!r}: use {', '.join(POLICIES)}")
    return value


def check_graph_format(value: str) -> str:
    """``graph --format``: json, graphml or dot."""
    if value not in GRAPH_FORMATS:
        raise typer.BadParameter(f"unknown format {value!r}: use {', '.join(GRAPH_FORMATS)}")
    return value


def check_migrate_layout(value: str) -> str:
    """``migrate --to``: v3 or v2 (empty: the other layout than the source's)."""
    if value not in MIGRATE_LAYOUTS:
        raise typer.BadParameter(f"unknown layout {value!r}: use v3 (current) or v2 (legacy)")
    return value


def check_to(value: str | None) -> str | None:
    """``--to`` of the commands writing NWB files: zarr or hdf5."""
    if value is not None and value not in FORMATS:
        raise typer.BadParameter(f"unknown format {value!r}: use {' or '.join(FORMATS)}")
    return value


def check_target_name(target: str, writes: str, command: str, because: str, to: str | None = None,
                      hint: str = "'TARGET'", has_to_option: bool = True) -> None:
    """A usage error when ``target``'s name asks for another format than ``command`` writes (``output_names``);
    ``hint``: the argument or option the name came in."""
    try:
        check_output(target, writes, command, because, to, has_to_option)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--to'" if to is not None else hint) from exc


def check_input(path: str, command: str, options: dict[str, Any] | None, zarr_only: bool = False) -> None:
    """Refuse a local input that does not exist, or that is neither an HDF5 file nor a Zarr store (with
    ``zarr_only``: that is not a Zarr store), naming the path and what the command reads. URLs are left to
    the command (it names them when it cannot read them)."""
    reads = "Zarr stores (.nwb.zarr)" if zarr_only else "NWB files: HDF5 (.nwb) or Zarr (.nwb.zarr)"
    local = _local(path)
    if local is None:
        return
    if not os.path.exists(local):
        raise FileNotFoundError(f"{path}: no such file or directory (check the name; {command} reads {reads})")
    if is_hdf5_file(local):
        if zarr_only:
            raise ValueError(f"{path} is an HDF5 file, and {command} works on Zarr stores (make one with "
                             f"`nwbzarr convert {path} {path}.zarr`)")
        return
    if not _holds_zarr(path, options):
        raise ValueError(f"{path}: neither an HDF5 file nor a Zarr store ({command} reads {reads})")


def _holds_zarr(path: str, options: dict[str, Any] | None) -> bool:
    """Whether a local path holds a Zarr hierarchy; a damaged store file raises its own error (naming it)."""
    from ._private_api import sync
    from .backend.location import open_location
    from .format.detect import detect_layout

    store, _ = open_location(path, True, options)
    try:
        return sync(detect_layout(store)) is not None
    finally:
        store.close()


def source_format(path: str, options: dict[str, Any] | None, command: str) -> str:
    """``"hdf5"`` or ``"zarr"``: what the source of ``convert``/``truncate`` holds (checked as ``check_input``);
    a remote file is HDF5 when it starts with the HDF5 signature."""
    check_input(path, command, options)
    local = _local(path)
    if local is not None:
        return "hdf5" if is_hdf5_file(local) else "zarr"
    if is_url(path):
        from .convert_hdf5 import remote_hdf5_signature

        return "hdf5" if remote_hdf5_signature(path, options) else "zarr"
    return "zarr"  # the URL of one of nwbzarr's stores (sqlite://, redis://, ...)


def _local(path: str) -> str | None:
    """The local path that ``path`` names (plain or ``file://``), or None for a URL."""
    if path.startswith("file://"):
        return path[len("file://"):]
    return None if "://" in path else path


def version_text() -> str:
    """``nwbzarr <version> (zarr ..., hdmf ..., ...; Python ...)``: what a bug report needs."""
    from . import __version__

    def installed(name: str) -> str:
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            return f"{name} (not installed)"

    libraries = ", ".join(installed(name) for name in VERSIONS_SHOWN)
    return f"nwbzarr {__version__} ({libraries}; Python {platform.python_version()})"
