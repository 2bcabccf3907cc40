"""TempStore: a LocalStore in a new temporary directory."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any, Self

from zarr.storage import LocalStore

__all__ = ["TempStore"]


def _rmtree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


class TempStore(LocalStore):
    """A local store in a fresh ``tempfile.mkdtemp`` directory, removed at interpreter exit, or on
    :meth:`close` when ``remove_on_close=True``.

    Copies (pickled, ``with_read_only``) point at the same directory; only the original removes it
    on close. Concurrency: as :class:`zarr.storage.LocalStore` (threads and processes; atomic
    file replacement, so a killed writer leaves other values intact).
    """

    supports_multiprocess_writes = True  # as LocalStore
    supports_fork = True

    def __init__(
        self,
        suffix: str = "",
        prefix: str = "zarr",
        dir: str | Path | None = None,
        *,
        remove_on_close: bool = False,
        read_only: bool = False,
    ) -> None:
        root = tempfile.mkdtemp(suffix=suffix, prefix=prefix, dir=dir)
        atexit.register(_rmtree, root)
        super().__init__(root, read_only=read_only)
        self.remove_on_close = remove_on_close
        self._owner = True

    @classmethod
    async def open(cls, *args: Any, **kwargs: Any) -> Self:  # type: ignore[override]
        """Create the temporary directory and open the store."""
        store = cls(*args, **kwargs)
        await store._open()
        return store

    @classmethod
    def _on_root(cls, root: Path, read_only: bool) -> Self:
        """A non-owning TempStore on an existing temporary directory."""
        store = cls.__new__(cls)
        LocalStore.__init__(store, root, read_only=read_only)
        store.remove_on_close, store._owner = False, False
        return store

    def with_read_only(self, read_only: bool = False) -> Self:
        """A new, unopened store on the same temporary directory."""
        return self._on_root(self.root, read_only)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self)._on_root, (self.root, self.read_only))

    def close(self) -> None:
        """Close; also delete the directory if this store created it with ``remove_on_close``."""
        super().close()
        if self.remove_on_close and self._owner:
            _rmtree(str(self.root))

    def __repr__(self) -> str:
        return f"TempStore('{self}')"
