"""Which format an output name asks for (``.nwb``/``.h5``/``.hdf5``: HDF5; ``.zarr`` and the store files and
URLs nwbzarr opens: Zarr), and the check that it agrees with what a command writes, so ``convert x.nwb
copy.nwb`` cannot quietly make a Zarr folder named like an HDF5 file."""

from __future__ import annotations

from .storage.url import is_url

HDF5 = "hdf5"
ZARR = "zarr"
FORMATS = (ZARR, HDF5)
HDF5_SUFFIXES = (".nwb", ".h5", ".hdf5")
# what nwbzarr.storage.url opens as a Zarr store by its name: directories named .zarr, zip, SQLite and LMDB files
ZARR_SUFFIXES = (".zarr", ".zip", ".sqldb", ".sqlite", ".sqlite3", ".lmdb", ".mdb")
LABELS = {ZARR: "a Zarr store", HDF5: "an HDF5 file"}


def format_of_name(name: str) -> str | None:
    """The format ``name`` asks for: ``"zarr"`` for a ``.zarr`` (or zip/SQLite/LMDB) name and for the URL of
    one of nwbzarr's stores (``sqlite://``, ``lmdb://``, ``redis://``, ``icechunk://``, ...), ``"hdf5"`` for
    ``.nwb``, ``.h5`` and ``.hdf5``; None when it says neither (a plain folder name, a remote prefix)."""
    text = name.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme and scheme not in ("file", "local") and not is_url(text):
        return ZARR
    text = text.rstrip("/")
    last = text.rsplit("/", 1)[-1].split("?", 1)[0].lower()
    if last.endswith(ZARR_SUFFIXES):
        return ZARR
    if last.endswith(HDF5_SUFFIXES):
        return HDF5
    return None


def check_output(target: str, writes: str, command: str, because: str, to: str | None = None,
                 has_to_option: bool = True) -> None:
    """Refuse (``ValueError`` naming the name and the fix) a ``target`` named as another format than the
    ``writes`` that ``command`` produces (``because``: why, e.g. "from an HDF5 source"); ``to`` (the
    ``--to`` option, offered in the message when the command ``has_to_option``) keeps any name but must be a
    format the command can write here."""
    if to is not None and to not in FORMATS:
        raise ValueError(f"--to {to}: use {' or '.join(FORMATS)}")
    if to is not None and to != writes:
        raise ValueError(f"{command} writes {LABELS[writes]} {because}, it cannot write {LABELS[to]} "
                         f"(drop --to {to})")
    named = format_of_name(target)
    if to is not None or named is None or named == writes:
        return
    keep = f", or pass --to {writes} to keep this name" if has_to_option else ""
    raise ValueError(f"{target!r} is named as {LABELS[named]}, but {command} writes {LABELS[writes]} {because} "
                     f"(name it {suggested_name(target, writes)}{keep})")


def suggested_name(target: str, fmt: str) -> str:
    """A name for ``target`` that asks for ``fmt``: ``copy.nwb`` -> ``copy.nwb.zarr``, ``t.nwb.zarr`` -> ``t.nwb``."""
    text = target.strip().rstrip("/")
    if fmt == ZARR:
        return repr(text + ".zarr")
    if "://" in text and not is_url(text) and not text.lower().startswith(("file://", "local://")):
        return "a local file name ending in .nwb"
    lower = text.lower()
    for suffix in ZARR_SUFFIXES:
        if lower.endswith(suffix):
            text = text[: -len(suffix)]
            break
    return repr(text if text.lower().endswith(HDF5_SUFFIXES) else text + ".nwb")
