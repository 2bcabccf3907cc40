"""One exception hierarchy: every error nwbzarr raises on purpose is defined in ``nwbzarr.errors``, derives
from ``NwbzarrError`` and from the built-in exception older handlers catch, and is importable from the top."""

from __future__ import annotations

import importlib
import pickle
import pkgutil

import pytest

import nwbzarr
from nwbzarr import errors

# where each class lived before the hierarchy: those import paths keep working
OLD_HOMES = {
    "FormatError": "nwbzarr.format.base", "ResourceLimitError": "nwbzarr.format.base",
    "CorruptChunkError": "nwbzarr.format.corrupt", "ChunkError": "nwbzarr.format.corrupt",
    "ChunkSizeError": "nwbzarr.format.safe_codecs", "UnsafePickleError": "nwbzarr.format.unpickle",
    "PickleTooLargeError": "nwbzarr.format.unpickle", "InvalidNameError": "nwbzarr.format.names",
    "UnsupportedDtypeError": "nwbzarr.format.dtypes", "StoreCorruptError": "nwbzarr.storage.errors",
    "StoreLockedError": "nwbzarr.storage.locks", "ServerUnavailableError": "nwbzarr.storage",
    "ExternalLinkError": "nwbzarr.backend.links", "DanglingReferenceError": "nwbzarr.backend.io",
    "WriteError": "nwbzarr.backend.write", "ParallelWriteError": "nwbzarr.parallel",
    "MigrationError": "nwbzarr.migrate", "StructureError": "nwbzarr.structure.model",
    "ModelValidationError": "nwbzarr.structure.typed_read", "LegacyWarning": "nwbzarr.format.legacy",
    "FastPathOffWarning": "nwbzarr._private_api",
}
BUILTIN_BASES = {
    "FormatError": ValueError, "CorruptChunkError": OSError, "StoreCorruptError": OSError,
    "InvalidNameError": ValueError, "UnsupportedDtypeError": TypeError, "StoreLockedError": RuntimeError,
    "ServerUnavailableError": ConnectionError, "ExternalLinkError": ValueError,
    "DanglingReferenceError": LookupError, "WriteError": RuntimeError, "MigrationError": RuntimeError,
    "StructureError": ValueError,
}
ERRORS = [n for n in errors.__all__ if issubclass(getattr(errors, n), Exception)
          and not issubclass(getattr(errors, n), Warning)]


@pytest.mark.parametrize("name", ERRORS)
def test_every_error_is_an_nwbzarr_error_and_importable_from_the_top(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, errors.NwbzarrError)
    assert getattr(nwbzarr, name) is cls


@pytest.mark.parametrize("name,base", sorted(BUILTIN_BASES.items()))
def test_errors_keep_the_builtin_base_older_code_catches(name: str, base: type) -> None:
    assert issubclass(getattr(errors, name), base)


@pytest.mark.parametrize("name,module", sorted(OLD_HOMES.items()))
def test_old_import_paths_give_the_same_class(name: str, module: str) -> None:
    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


@pytest.mark.parametrize("name", ERRORS)
def test_errors_survive_pickling_as_worker_processes_send_them(name: str) -> None:
    error = getattr(errors, name)(f"/acquisition/ts/data: {name}")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)


@pytest.mark.parametrize("name", ERRORS)
def test_errors_survive_tblibs_pickling_as_dask_workers_send_them(name: str) -> None:
    """dask.distributed installs tblib's exception pickling; errors raised on a worker must come back."""
    from tblib import pickling_support

    error = getattr(errors, name)(f"/acquisition/ts/data: {name}")
    rebuild, args = pickling_support.pickle_exception(error)[:2]
    again = rebuild(*args)
    assert type(again) is type(error) and str(again) == str(error)


def test_warnings_share_a_root() -> None:
    assert issubclass(errors.LegacyWarning, errors.NwbzarrWarning)
    assert issubclass(errors.FastPathOffWarning, errors.NwbzarrWarning)
    assert issubclass(errors.FastPathOffWarning, RuntimeWarning)


def test_no_module_defines_its_own_public_exception() -> None:
    """A new error class belongs in nwbzarr.errors, so the hierarchy stays in one place."""
    strays = []
    for info in pkgutil.walk_packages(nwbzarr.__path__, "nwbzarr."):
        if info.name in ("nwbzarr.errors", "nwbzarr.cli"):
            continue
        module = importlib.import_module(info.name)
        for attr, value in vars(module).items():
            if (isinstance(value, type) and issubclass(value, (Exception, Warning))
                    and value.__module__ == info.name and not attr.startswith("_")
                    and attr not in {"BlockWriteFailure"}):  # raised and caught inside a worker only
                strays.append(f"{info.name}.{attr}")
    assert not strays, f"exceptions defined outside nwbzarr.errors: {strays}"
