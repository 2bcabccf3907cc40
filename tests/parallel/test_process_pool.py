"""Process-pool writes: byte-identical to serial writes on every multi-process store, fork and spawn,
failures that name the dataset and keep it marked incomplete, fallbacks, thread limits, progress."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
from zarr.storage import LocalStore, MemoryStore

from nwbzarr import NWBZarrIO
from nwbzarr.info import summarise
from nwbzarr.parallel import INCOMPLETE_ATTR, ParallelWriteError, fork_safe, multiprocess_safe

from .conftest import (
    DATASET,
    dump,
    dump_kinds,
    iterator,
    make_store,
    read_back,
    sample_data,
    write,
    write_all_kinds,
)
from .iterators import FailingIterator, ThreadCountIterator, UnpicklableIterator, WrongShapeIterator

pytestmark = pytest.mark.timeout(120)

STORES = ["local", "sqlite", "lmdb", "h5container", "zipcontainer", "redis"]


@pytest.mark.parametrize("store_kind", STORES)
def test_pool_is_byte_identical_to_serial(store_kind, tmp_path, request) -> None:
    data = sample_data()
    (tmp_path / "s").mkdir()
    (tmp_path / "p").mkdir()
    serial_store = make_store(store_kind, tmp_path / "s", request)
    write_all_kinds(serial_store, data)
    serial = dump_kinds(serial_store)
    # (redis: both stores share one key prefix; mode "w" clears the serial copy before the parallel write)
    parallel_store = make_store(store_kind, tmp_path / "p", request)
    assert multiprocess_safe(parallel_store)
    context = "fork" if fork_safe(parallel_store) else None
    write_all_kinds(parallel_store, data, number_of_jobs=2, multiprocessing_context=context)
    assert dump_kinds(parallel_store) == serial
    np.testing.assert_array_equal(read_back(parallel_store, "sharded"), data)


def test_spawn_pool_is_byte_identical_to_serial(tmp_path) -> None:
    data = sample_data()
    write_all_kinds(tmp_path / "serial.zarr", data)
    write_all_kinds(tmp_path / "spawn.zarr", data, number_of_jobs=2, multiprocessing_context="spawn")
    serial = dump_kinds(LocalStore(str(tmp_path / "serial.zarr")))
    spawned = dump_kinds(LocalStore(str(tmp_path / "spawn.zarr")))
    assert spawned == serial
    meta = json.loads(spawned["acquisition/sharded/data/zarr.json"])
    assert INCOMPLETE_ATTR not in meta["attributes"]


class _LoggingStore(LocalStore):
    """A LocalStore that appends ``key pid`` to a log for every chunk it writes (picklable)."""

    def __init__(self, root: str, log: str, read_only: bool = False) -> None:
        super().__init__(root, read_only=read_only)
        self.log = log

    def __getstate__(self) -> dict:
        return {"root": str(self.root), "log": self.log, "read_only": self.read_only}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["root"], state["log"], state["read_only"])

    async def set(self, key: str, value, byte_range=None) -> None:  # type: ignore[override]
        await super().set(key, value)
        if "/c/" in key:
            with open(self.log, "a") as fh:
                fh.write(f"{key} {os.getpid()}\n")


@pytest.mark.parametrize("kind", ["compressed", "sharded"])
def test_every_chunk_or_shard_is_written_by_exactly_one_worker(kind, tmp_path) -> None:
    log = tmp_path / "writes.log"
    store = _LoggingStore(str(tmp_path / "logged.zarr"), str(log))
    write(store, iterator(sample_data()), kind, number_of_jobs=2, multiprocessing_context="fork")
    lines = [line.split() for line in log.read_text().splitlines() if line.startswith(DATASET)]
    keys = [k for k, _ in lines]
    assert len(keys) == len(set(keys)), "a chunk (or shard) was written twice"
    assert len({pid for _, pid in lines}) == 2 and str(os.getpid()) not in {pid for _, pid in lines}
    expected = 5 * 4 if kind == "sharded" else 19 * 7  # shards of 64x20, chunks of 16x10, over 300x70
    assert len(keys) == expected


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_worker_failure_names_dataset_and_keeps_it_incomplete(context, tmp_path) -> None:
    target = tmp_path / "failed.zarr"
    data = sample_data()
    failing = iterator(data, FailingIterator, fail_row=128, parent_pid=os.getpid())
    with pytest.raises(ParallelWriteError) as info:
        write(target, failing, "compressed", number_of_jobs=2, multiprocessing_context=context)
    message = str(info.value)
    assert f"/{DATASET}" in message and "[128:" in message
    assert "sensor unplugged at row 128" in message and "worker traceback" in message
    assert "in _get_data" in message  # the worker's own frames, not the parent's
    meta = json.loads((target / DATASET / "zarr.json").read_text())
    assert meta["attributes"][INCOMPLETE_ATTR] is True
    assert not (target / "zarr.json").exists()  # the root (and consolidated metadata) is never written


def test_failed_append_is_flagged_by_info(tmp_path) -> None:
    target = tmp_path / "append.zarr"
    write(target, iterator(sample_data()), "compressed")
    from pynwb import TimeSeries

    failing = iterator(sample_data(), FailingIterator, fail_row=64, parent_pid=os.getpid())
    with NWBZarrIO(target, mode="a") as io:
        nwb = io.read()
        nwb.add_acquisition(TimeSeries(name="late", data=failing, unit="uV", rate=30000.0))
        with pytest.raises(ParallelWriteError, match="acquisition/late/data"):
            io.write(nwb, number_of_jobs=2, multiprocessing_context="fork")
        io.consolidate_metadata()  # what a user does to look at a partial store
    flagged = {s.path: s.incomplete for s in summarise(str(target)) if s.kind == "array"}
    assert flagged["acquisition/late/data"] is True
    assert flagged[DATASET] is False


def test_wrong_shape_from_iterator_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ParallelWriteError, match=r"returned shape \((\d+), 70\), expected \((\d+), 70\)"):
        write(tmp_path / "bad.zarr", iterator(sample_data(), WrongShapeIterator), "compressed",
              number_of_jobs=2, multiprocessing_context="fork")


def test_memory_store_falls_back_to_serial(tmp_path) -> None:
    store = MemoryStore()
    assert not multiprocess_safe(store)
    data = sample_data()
    with pytest.warns(UserWarning, match="MemoryStore cannot be written by several processes"):
        write(store, iterator(data), "compressed", number_of_jobs=2)
    np.testing.assert_array_equal(read_back(store), data)


def test_unpicklable_iterator_is_written_serially_with_spawn(tmp_path) -> None:
    data = sample_data()
    with pytest.warns(UserWarning, match="cannot be pickled"):
        write(tmp_path / "u.zarr", iterator(data, UnpicklableIterator), "compressed",
              number_of_jobs=2, multiprocessing_context="spawn")
    np.testing.assert_array_equal(read_back(tmp_path / "u.zarr"), data)


@pytest.mark.parametrize("limit,expected", [(1, 1), (None, os.cpu_count())])
def test_thread_limits_apply_in_workers(limit, expected, tmp_path) -> None:
    data = np.zeros((128, 20), dtype="int16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write(tmp_path / "t.zarr", ThreadCountIterator(data, buffer_shape=(32, 20), chunk_shape=(16, 10)),
              "plain", number_of_jobs=2, multiprocessing_context="fork", max_threads_per_process=limit)
    assert set(np.unique(read_back(tmp_path / "t.zarr"))) == {expected}


def test_progress_bar_counts_bytes(tmp_path, capsys) -> None:
    data = sample_data()
    write(tmp_path / "bar.zarr", iterator(data, display_progress=True,
                                          progress_bar_options={"desc": "W-test", "mininterval": 0}),
          "compressed", number_of_jobs=2, multiprocessing_context="fork")
    err = capsys.readouterr().err.replace("\r", "\n")
    assert data.nbytes == 42000  # 41.0 KiB
    assert "W-test: 100%" in err and "41.0k/41.0k" in err and "B/s" in err


def test_bad_context_is_rejected_before_writing(tmp_path) -> None:
    with pytest.raises(ValueError, match="multiprocessing_context 'thread'"):
        write(tmp_path / "x.zarr", iterator(sample_data()), "compressed", number_of_jobs=2,
              multiprocessing_context="thread")


class _NoForkStore(LocalStore):
    supports_fork = False


def test_explicit_fork_with_a_store_that_cannot_fork_is_refused_before_writing(tmp_path) -> None:
    store = _NoForkStore(str(tmp_path / "x.zarr"))
    with pytest.raises(ValueError, match="_NoForkStore cannot be used by forked worker processes"):
        write(store, iterator(sample_data()), "compressed", number_of_jobs=2, multiprocessing_context="fork")
    assert dump(store) == {}  # nothing of the dataset was written


def test_lmdb_pool_forks_and_the_parent_keeps_its_environment(tmp_path) -> None:
    """LMDB is written by forked workers (the default start method) and stays usable in the parent."""
    from nwbzarr.storage import LMDBStore

    store = LMDBStore(tmp_path / "x.lmdb")
    assert fork_safe(store)
    data = sample_data()
    write(store, iterator(data), "compressed", number_of_jobs=2, multiprocessing_context="fork")
    np.testing.assert_array_equal(read_back(store), data)
    np.testing.assert_array_equal(read_back(store), data)  # again, after the workers are gone
