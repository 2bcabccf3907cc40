"""The ``Runner`` protocol: the in-process and the process-pool runners execute the same block tasks and
leave byte-identical stores; ``on_done`` hears of every task once, with its logical size."""

from __future__ import annotations

import multiprocessing as mp
import pickle

import numpy as np
import pytest
from tests.parallel.iterators import ArrayIterator
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore

from nwbzarr.format.base import ArraySpec
from nwbzarr.format.detect import get_layout
from nwbzarr.writing import INCOMPLETE_ATTR, WriteSession, WriteTarget, block_selections, write_unit
from nwbzarr.writing.jobs import pickled_iterator
from nwbzarr.writing.process_pool import ProcessPoolRunner
from nwbzarr.writing.serial import SerialRunner

SPECS = {
    "chunked": {"chunks": (16, 10)},
    "sharded": {"chunks": (16, 10), "shards": (64, 20)},
}


def data() -> np.ndarray:
    return (np.arange(300 * 70, dtype="int32").reshape(300, 70) * 7919) % 65521


def write(tmp_path, name, layout_name, kind, runner_for) -> tuple[dict[str, bytes], list, int]:
    """One array written by block through a runner; (every stored key's bytes, tasks reported, bytes)."""
    store = LocalStore(str(tmp_path / name))
    session = WriteSession(store, get_layout(layout_name))
    values = data()
    spec = ArraySpec(shape=values.shape, kind="numeric", dtype=values.dtype, **SPECS[kind])
    documents = session.layout.array_documents("a", spec, {INCOMPLETE_ATTR: True})
    session.put_documents(documents)
    dci = ArrayIterator(values, buffer_shape=(64, 70), chunk_shape=(16, 10))
    target = WriteTarget(store, session.layout, "a", documents, spec, dci)
    tasks = [(0, sel) for sel in block_selections(values.shape, write_unit(spec), (64, 70), 8)]
    done: list = []
    runner = runner_for(session, target)
    runner.run([target if not isinstance(runner, ProcessPoolRunner) else _pickled(target)], tasks,
               lambda task, nbytes: done.append((task, nbytes)))
    assert sorted(t for t, _ in done) == sorted(tasks)
    return dump(store), [t for t, _ in done], sum(n for _, n in done)


def _pickled(target: WriteTarget) -> WriteTarget:
    return WriteTarget(pickle.dumps(target.store), target.layout, target.path, target.documents, target.spec,
                       pickled_iterator(target.dci))


def dump(store: LocalStore) -> dict[str, bytes]:
    async def read_all() -> dict[str, bytes]:
        out = {}
        async for key in store.list():
            out[key] = (await store.get(key, default_buffer_prototype())).to_bytes()
        return out

    return sync(read_all())


@pytest.mark.parametrize("layout_name,kind", [("v3", "chunked"), ("v3", "sharded"), ("legacy", "chunked")])
def test_serial_and_process_pool_runners_leave_identical_stores(tmp_path, layout_name, kind) -> None:
    serial, serial_tasks, serial_bytes = write(tmp_path, "serial.zarr", layout_name, kind,
                                               lambda session, _: SerialRunner(session))
    pool, pool_tasks, pool_bytes = write(tmp_path, "pool.zarr", layout_name, kind,
                                         lambda *_: ProcessPoolRunner(mp.get_context("spawn"), 2))
    assert serial == pool
    assert len(serial) > 5  # documents and many chunks or shards
    assert serial_bytes == pool_bytes == data().nbytes
    assert serial_tasks == sorted(serial_tasks, key=lambda t: t[1][0].start)  # in order, in this process
    assert sorted(pool_tasks) == sorted(serial_tasks)  # the same blocks, in any order


def test_serial_runner_gives_turns_to_plain_writers_between_blocks(tmp_path) -> None:
    order: list[str] = []

    class Plain:
        steps = 3

        def write_next(self) -> bool:
            order.append("plain")
            self.steps -= 1
            return self.steps > 0

    store = LocalStore(str(tmp_path / "s.zarr"))
    session = WriteSession(store, get_layout("v3"))
    values = data()
    spec = ArraySpec(shape=values.shape, kind="numeric", dtype=values.dtype, chunks=(16, 10))
    documents = session.layout.array_documents("a", spec, {})
    session.put_documents(documents)
    target = WriteTarget(store, session.layout, "a", documents, spec, ArrayIterator(values, buffer_shape=(64, 70), chunk_shape=(16, 10)))
    tasks = [(0, sel) for sel in block_selections(values.shape, (16, 10), (64, 70))]
    SerialRunner(session, [Plain()]).run([target], tasks, lambda task, _: order.append(f"block {task[1][0]}"))
    assert order[:4] == ["block slice(0, 64, None)", "plain", "block slice(64, 128, None)", "plain"]
    assert order.count("plain") == 3 and len(order) == 3 + len(tasks)


def test_pickled_iterator_with_progress_unpickles_to_the_iterator_without_its_own_bar() -> None:
    dci = ArrayIterator(data(), buffer_shape=(64, 70), chunk_shape=(16, 10), display_progress=True)
    copy = pickle.loads(pickled_iterator(dci))
    assert isinstance(copy, ArrayIterator) and copy.display_progress is False
    np.testing.assert_array_equal(copy._get_data((slice(5, 9), slice(0, 3))), data()[5:9, :3])
