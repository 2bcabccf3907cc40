"""``NWBZarrIO``: ``ZarrIO`` with pynwb's type map and the namespaces cached in the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hdmf.build import BuildManager, TypeMap
from zarr.abc.store import Store

from ..storage.remote_clients import split_client
from .io import ZarrIO
from .lifecycle import local_path
from .links import DEFAULT_POLICY


class NWBZarrIO(ZarrIO):
    """Read and write NWB files in Zarr.

    ``load_namespaces`` (on by default) loads the namespaces cached in an existing file, so files with
    extensions open without importing them; ``extensions`` adds namespace YAML paths or a TypeMap.
    ``external_links``: which other stores links and references may open (``ZarrIO``; default ``"relative"``).
    ``storage_options={"remote_client": "obstore", ...}`` reads a remote URL through obstore instead of fsspec.
    The store is opened once: the namespaces are loaded through it, and read() reuses what the open read.
    """

    def __init__(
        self,
        path: str | Path | Store,
        mode: str = "r",
        manager: BuildManager | None = None,
        storage_options: dict | None = None,
        force_overwrite: bool = False,
        load_namespaces: bool = True,
        extensions: Any = None,
        zarr_format: int | None = None,
        external_links: str = DEFAULT_POLICY,
        lock_timeout: float = 0.0,
    ) -> None:
        from pynwb import get_type_map

        if load_namespaces and mode == "a":
            _check_exists_for_append(path)

        if manager is not None and extensions is not None:
            raise ValueError("give either manager= or extensions=, not both: extensions build a new manager")
        type_map = manager.type_map if manager is not None else _with_extensions(get_type_map(), extensions)
        super().__init__(path, mode=mode, manager=manager or BuildManager(type_map),
                         storage_options=storage_options, force_overwrite=force_overwrite, zarr_format=zarr_format,
                         external_links=external_links, lock_timeout=lock_timeout)
        if load_namespaces and mode in ("r", "r-", "r+", "a"):
            # through the store just opened (its nodes are the ones read() uses): no second open, no re-reads
            try:
                self.load_namespaces_io(type_map)
            except BaseException:
                self.close()
                raise

    def export(self, src_io: Any, nwbfile: Any = None, write_args: dict | None = None,
               clear_cache: bool = False, cache_spec: bool = True, container: Any = None,
               **kwargs: Any) -> None:
        """Export an NWB file read by any HDMF backend (``NWBHDF5IO`` included) into this store.

        ``kwargs``: ``ZarrIO.export``'s (hdmf-zarr 0.14's) ``number_of_jobs``, ``max_threads_per_process``,
        ``multiprocessing_context`` and ``consolidate_metadata``."""
        container = container if container is not None else nwbfile
        if container is not None:
            container.set_modified()
        super().export(src_io=src_io, container=container, write_args=write_args,
                       clear_cache=clear_cache, cache_spec=cache_spec, **kwargs)

    @staticmethod
    def read_nwb(path: Any, **kwargs: Any) -> Any:
        return read_nwb(path, **kwargs)


def _check_exists_for_append(path: Any) -> None:
    """Mode 'a' loading namespaces needs an existing file, as NWBHDF5IO and hdmf-zarr's NWBZarrIO: refuse a
    missing local path before anything is created (a typo must not leave a new store behind)."""
    local = local_path(path)
    if local is not None and not os.path.exists(local):
        raise FileNotFoundError(f"{local!r} does not exist: mode 'a' with load_namespaces=True opens an existing "
                                "file (create one with mode 'w', or pass load_namespaces=False)")


def _with_extensions(type_map: TypeMap, extensions: Any) -> TypeMap:
    """Load extension namespaces (YAML paths, or TypeMaps to merge) into a copy of pynwb's type map."""
    if extensions is None:
        return type_map
    for ext in extensions if isinstance(extensions, (list, tuple)) else [extensions]:
        if isinstance(ext, TypeMap):
            type_map.merge(ext, ns_catalog=True)
        elif isinstance(ext, (str, Path)):
            type_map.load_namespaces(str(ext))
        else:
            raise TypeError(f"extensions must be namespace YAML paths or TypeMaps, not {type(ext).__name__}")
    return type_map


def read_nwb(path: Any, storage_options: dict | None = None, external_links: str = DEFAULT_POLICY) -> Any:
    """Open an NWB Zarr store and read its NWBFile (lazily); the IO stays open with the file.

    ``s3://`` URLs given without ``storage_options`` (or with only a ``remote_client``) are read anonymously
    (``{"anon": True}``; obstore: ``skip_signature``), as hdmf-zarr does; pass ``storage_options`` for
    credentials or another endpoint. ``external_links``: which other stores links and references may open
    (see ``ZarrIO``)."""
    if isinstance(path, Path):
        path = str(path)
    if isinstance(path, str) and path.startswith("s3://") and not split_client(storage_options)[1]:
        storage_options = {**(storage_options or {}), "anon": True}
    io = NWBZarrIO(path, mode="r", storage_options=storage_options, external_links=external_links)
    return io.read()
