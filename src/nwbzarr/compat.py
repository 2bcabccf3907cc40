"""hdmf-zarr 0.14's legacy-reader names, as thin aliases onto what nwbzarr does anyway.

hdmf-zarr 0.14 reads Zarr v2 stores (written by hdmf-zarr <= 0.13) only through a separate read-only
``ZarrV2IO`` / ``NWBZarrV2IO`` and converts them with ``NWBZarrV2IO.convert_to_v3``.  nwbzarr's
``ZarrIO`` / ``NWBZarrIO`` open both layouts themselves, and ``nwbzarr.migrate`` converts node by node
with a verification pass.  The names below let code written for hdmf-zarr 0.14 run unchanged:

- ``ZarrV2IO`` / ``NWBZarrV2IO``: ``ZarrIO`` / ``NWBZarrIO`` restricted to modes ``r`` and ``r-``, with
  hdmf-zarr's ``allow_pickle`` and ``skipped_entries``.  ``allow_pickle`` is accepted and has no effect:
  nwbzarr decodes hdmf-zarr's pickle-encoded chunks with a restricted unpickler that rebuilds only numpy
  arrays, builtin containers and references, and refuses anything else (``UnsafePickleCodecError``).
- ``convert_to_v3`` / ``NWBZarrV2IO.export_to_v3``: ``nwbzarr.migrate.migrate(..., to="v3")``; an entry that
  cannot be read or does not verify raises ``IncompleteConversionError`` (nwbzarr's ``MigrationError``).
- ``is_zarr_v2_file``: True when a store uses the legacy (Zarr format 2) layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hdmf.build import BuildManager
from zarr.abc.store import Store

from ._private_api import sync
from .backend.io import ZarrIO
from .backend.location import open_location
from .backend.nwb import NWBZarrIO
from .format.detect import detect_layout
from .format.legacy_codecs import UnsafePickleError
from .migrate import MigrationError, migrate

__all__ = [
    "IncompleteConversionError",
    "NWBZarrV2IO",
    "UnsafePickleCodecError",
    "ZarrV2IO",
    "convert_to_v3",
    "is_zarr_v2_file",
]

#: hdmf-zarr's error for a conversion that would leave entries out; nwbzarr's migration raises it.
IncompleteConversionError = MigrationError

#: hdmf-zarr's error for a refused pickle; nwbzarr raises it for a pickle that asks for anything the
#: legacy layout never stores (a ``ValueError``, as in hdmf-zarr).
UnsafePickleCodecError = UnsafePickleError

READ_MODES = ("r", "r-")


def _anonymous_for_s3(path: Any, storage_options: dict | None) -> dict | None:
    """hdmf-zarr's default for ``s3://`` URLs given without storage options: read anonymously."""
    if storage_options is None and isinstance(path, str) and path.startswith("s3://"):
        return {"anon": True}
    return storage_options


def is_zarr_v2_file(path: str | Path | Store, storage_options: dict | None = None) -> bool:
    """True when ``path`` holds a Zarr format 2 hierarchy (the layout of hdmf-zarr <= 0.13)."""
    try:
        store, _ = open_location(path, True, storage_options)
        layout = sync(detect_layout(store))
    except (OSError, ValueError, TypeError):
        return False
    return layout is not None and layout.zarr_format == 2


def _check_read_mode(cls: type, mode: str) -> None:
    if mode not in READ_MODES:
        raise ValueError(f"{cls.__name__} is read-only; mode must be one of {READ_MODES}, got {mode!r}. "
                         "ZarrIO / NWBZarrIO read and write both layouts (zarr_format=2 writes the legacy one).")


class ZarrV2IO(ZarrIO):
    """hdmf-zarr 0.14's read-only reader of Zarr v2 stores: here ``ZarrIO`` in mode ``r``/``r-``.

    Reads either layout (as hdmf-zarr's does); ``allow_pickle`` is accepted for compatibility and
    ignored, since nwbzarr never runs arbitrary pickled code (see the module docstring).
    """

    def __init__(self, path: str | Path | Store, mode: str = "r", manager: BuildManager | None = None,
                 storage_options: dict | None = None, force_overwrite: bool = False,
                 allow_pickle: bool = False, **kwargs: Any) -> None:
        _check_read_mode(type(self), mode)
        self._allow_pickle = bool(allow_pickle)
        super().__init__(path, mode=mode, manager=manager, storage_options=storage_options,
                         force_overwrite=force_overwrite, **kwargs)

    @property
    def allow_pickle(self) -> bool:
        return self._allow_pickle

    @property
    def skipped_entries(self) -> list[tuple[str, str]]:
        """(path, reason) of each entry whose metadata cannot be read (it is absent from what ``read`` builds)."""
        return [("/" + path, node.error) for path, node in sorted(self.nodes.items())
                if getattr(node, "error", None)]

    def write(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} is read-only: use ZarrIO / NWBZarrIO to write")

    def export(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} is read-only: use ZarrIO / NWBZarrIO to export")


class NWBZarrV2IO(NWBZarrIO, ZarrV2IO):
    """hdmf-zarr 0.14's read-only NWB reader of Zarr v2 stores: here ``NWBZarrIO`` in mode ``r``/``r-``."""

    def __init__(self, path: str | Path | Store, mode: str = "r", manager: BuildManager | None = None,
                 storage_options: dict | None = None, load_namespaces: bool = True,
                 allow_pickle: bool = False, **kwargs: Any) -> None:
        _check_read_mode(type(self), mode)
        super().__init__(path, mode=mode, manager=manager, storage_options=storage_options,
                         load_namespaces=load_namespaces, **kwargs)
        self._allow_pickle = bool(allow_pickle)

    def export(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("NWBZarrV2IO is read-only: use export_to_v3, or NWBZarrIO(...).export")

    def export_to_v3(self, path: str | Path | Store, nwbfile: Any = None, write_args: dict | None = None,
                     storage_options: dict | None = None) -> None:
        """Write this store as a new Zarr v3 store at ``path``.

        With ``nwbfile`` left None, the whole store is migrated node by node and verified (cached specs,
        attributes and data kept as they are); with an ``nwbfile`` (e.g. one you edited), it is exported
        through its containers with ``link_data=False``, as hdmf-zarr does.
        """
        if nwbfile is None:
            _migrate_to_v3(self.path, path, self._storage_options, storage_options)
            return
        write_args = dict(write_args or {})
        write_args["link_data"] = False
        with NWBZarrIO(path, mode="w", storage_options=storage_options) as out:
            out.export(src_io=self, nwbfile=nwbfile, write_args=write_args)

    @staticmethod
    def convert_to_v3(source_path: str | Path, dest_path: str | Path | Store, write_args: dict | None = None,
                      storage_options: dict | None = None, allow_pickle: bool = False) -> None:
        """hdmf-zarr's one-call conversion; see :func:`convert_to_v3`."""
        convert_to_v3(source_path, dest_path, write_args=write_args, storage_options=storage_options,
                      allow_pickle=allow_pickle)

    @staticmethod
    def read_nwb(path: str | Path | Store, allow_pickle: bool = False) -> Any:
        """Open a store and read its NWBFile (``s3://`` URLs anonymously, as hdmf-zarr does)."""
        if isinstance(path, Path):
            path = str(path)
        io = NWBZarrV2IO(path, mode="r", storage_options=_anonymous_for_s3(path, None), allow_pickle=allow_pickle)
        return io.read()


def convert_to_v3(source_path: str | Path, dest_path: str | Path | Store, write_args: dict | None = None,
                  storage_options: dict | None = None, allow_pickle: bool = False) -> None:
    """Convert a Zarr v2 (hdmf-zarr <= 0.13) store into a new Zarr v3 store, as hdmf-zarr 0.14's
    ``NWBZarrV2IO.convert_to_v3``: ``s3://`` sources are read anonymously; ``storage_options`` configure
    the destination.  nwbzarr copies node by node and verifies the copy (``write_args`` and
    ``allow_pickle`` are accepted and have nothing to change)."""
    if isinstance(source_path, Path):
        source_path = str(source_path)
    _migrate_to_v3(source_path, dest_path, _anonymous_for_s3(source_path, None), storage_options)


def _migrate_to_v3(source: Any, dest: Any, source_options: dict | None, dest_options: dict | None) -> None:
    src = open_location(source, True, source_options)[0] if source_options else source
    dst = open_location(dest, False, dest_options)[0] if dest_options else dest
    report = migrate(src, dst, to="v3", overwrite=_replaceable(dst), progress=False, verify=True)
    if not report.ok:
        raise IncompleteConversionError(f"converting {source!r} to {dest!r} left entries out or changed them: "
                                        + "; ".join(report.mismatches))


def _replaceable(dest: Any) -> bool:
    """Replace the destination like hdmf-zarr's mode ``w`` does, but only when it is a Zarr store."""
    if not isinstance(dest, (str, Path)) or "://" in str(dest) or not Path(dest).exists():
        return False
    if ZarrIO.can_read(str(dest)):
        return True
    raise FileExistsError(f"{str(dest)!r} exists and is not a Zarr store; refusing to replace it")
