"""``truncate_file``: a small, consistent copy of an NWB file (HDF5 -> HDF5, Zarr -> Zarr)."""

from __future__ import annotations

import os
from pathlib import Path

from ..storage.progress import Progress, progress_bar
from ..storage.url import is_url, location_exists
from .graph import opened
from .sources import Source


def truncate_file(source: Source | str | Path, target: str | Path | None = None, n: int = 10,
                  overwrite: bool = False, storage_options: dict | None = None, progress: Progress = False) -> str:
    """Keep the first ``n`` entries of every dataset; tables stay consistent. Returns the target path.
    A Zarr target may be a URL (``s3://...``), opened with ``storage_options``. ``progress``: one bar of
    objects (walked, then written) on stderr (True, False, or None: when stderr is a terminal)."""
    with opened(source) as src, progress_bar(progress, "truncate", unit="object") as bar:
        out = str(target) if target is not None else default_target(src.location)
        if out == src.location or os.path.abspath(out) == os.path.abspath(src.location):
            raise ValueError(f"{out}: the target must differ from the source")
        if not overwrite and location_exists(out, storage_options):
            raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
        if src.format == "hdf5":
            if is_url(out):
                raise ValueError(f"{out}: an HDF5 file is truncated into a local file, not a URL")
            from .truncate_hdf5 import truncate_hdf5

            return truncate_hdf5(src, out, n, bar)
        from .truncate_zarr import truncate_zarr

        return truncate_zarr(src, out, n, overwrite=overwrite, storage_options=storage_options, bar=bar)


def default_target(location: str) -> str:
    """``name_truncated.nwb`` (or ``.nwb.zarr``) next to the source."""
    loc = location.rstrip("/")
    for suffix in (".nwb.zarr", ".zarr", ".nwb", ".h5", ".hdf5"):
        if loc.endswith(suffix):
            return loc[: -len(suffix)] + "_truncated" + suffix
    return loc + "_truncated"
