"""The Dask runner: block tasks written on the workers of a ``dask.distributed`` cluster.

Workers receive each target once (scattered), with the pickled iterator and the pickled *store* (storage
options included, e.g. an S3 ``FsspecStore``), never a path. Workers must reach the store: a local
directory needs a filesystem every worker shares. A remote store's writes on each worker stay within the
writing process's request limit (zarr's ``async.concurrency``, see ``storage.remote_writes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ParallelWriteError
from ..storage.remote import request_limit
from .documents import INCOMPLETE_ATTR
from .jobs import BlockWriteFailure, Selection, Task, WriteTarget, block_selections, write_unit
from .runners import OnDone, Placement

TASKS_PER_THREAD = 4

__all__ = ["DaskRunner", "check_client"]


def check_client(scheduler: Any) -> Any:
    """The scheduler as a running ``distributed.Client``, or a clear error."""
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - distributed is a dependency here
        raise ImportError("scheduler= needs dask.distributed (pip install distributed)") from exc
    if not isinstance(scheduler, Client):
        raise TypeError(f"scheduler must be a dask.distributed Client, not {type(scheduler).__name__} "
                        "(for processes on this machine use number_of_jobs=N instead)")
    if scheduler.status != "running":
        raise ValueError(f"the dask Client {scheduler!r} is {scheduler.status}, not running")
    return scheduler


class DaskRunner:
    """Runs block tasks on the workers of a running ``distributed.Client``."""

    def __init__(self, client: Any) -> None:
        self.client = check_client(client)

    @property
    def placement(self) -> Placement:
        """Blocks of about the iterator's buffer, at least ``TASKS_PER_THREAD`` per worker thread."""
        wanted = TASKS_PER_THREAD * max(1, sum(self.client.nthreads().values()))

        def blocks(spec: Any, shape: tuple[int, ...], buffer_shape: tuple[int, ...]) -> list[Selection]:
            return block_selections(shape, write_unit(spec), buffer_shape, wanted)

        return Placement(where="on the dask cluster", blocks=blocks, pickle_iterators=True)

    def run(self, targets: Sequence[WriteTarget], tasks: Sequence[Task], on_done: OnDone) -> None:
        from distributed import as_completed

        client = self.client
        scattered = client.scatter(list(targets), broadcast=True, hash=False)
        limit = request_limit()  # this process's remote request limit, for every worker
        futures = {client.submit(_write_block, scattered[i], sel, limit, pure=False): (i, sel)
                   for i, sel in tasks}
        try:
            for future in as_completed(list(futures)):
                task = futures[future]
                on_done(task, _result(future, targets[task[0]].path))
        except BaseException:
            client.cancel(list(futures))
            raise
        finally:
            client.cancel(scattered)


def _write_block(target: WriteTarget, selection: Selection, requests: int | None = None) -> int:
    """Run on a dask worker: read one block from the iterator and write it into the store; ``requests``:
    the writing process's remote request limit, set on the worker (it stays set for later writes)."""
    if requests is not None:
        import zarr

        if zarr.config.get("async.concurrency") != requests:
            zarr.config.set({"async.concurrency": requests})
    return target.write(selection)


def _result(future: Any, path: str) -> int:
    try:
        return future.result()
    except BlockWriteFailure as exc:
        raise ParallelWriteError(str(exc)) from None
    except Exception as exc:
        raise ParallelWriteError(f"a dask worker failed writing a block of dataset /{path} "
                                 f"({type(exc).__name__}: {exc}); the dataset is left marked {INCOMPLETE_ATTR}"
                                 ) from exc
