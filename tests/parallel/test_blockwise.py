"""One process: a ``GenericDataChunkIterator`` written block by block with read-ahead (``writing.serial``)."""

from __future__ import annotations

import json
import threading
from typing import ClassVar

import numpy as np
import pytest

from nwbzarr.backend.write import WriteError
from nwbzarr.parallel import INCOMPLETE_ATTR
from nwbzarr.writing import serial as blockwise

from .conftest import DATASET, KINDS, dump_kinds, iterator, read_back, sample_data, write, write_all_kinds
from .iterators import ArrayIterator


class _OneReaderAtATime(ArrayIterator):
    """Records the selections asked for and fails the test if two threads ever read at once."""

    def __init__(self, array, **kwargs):
        self.calls: list[tuple[slice, ...]] = []
        self.busy = threading.Lock()
        self.overlapped = False
        super().__init__(array, **kwargs)

    def _get_data(self, selection):
        if not self.busy.acquire(blocking=False):
            self.overlapped = True
            self.busy.acquire()
        try:
            self.calls.append(selection)
            return super()._get_data(selection)
        finally:
            self.busy.release()


class _BrokenAt(ArrayIterator):
    def _get_data(self, selection):
        if selection[0].start >= 128:
            raise OSError("acquisition card lost")
        return super()._get_data(selection)


@pytest.mark.parametrize("kind", list(KINDS))
def test_blockwise_reads_every_row_once_from_one_thread_at_a_time(kind, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(blockwise, "BLOCK_BYTES", 4096)  # many small blocks, so read-ahead really overlaps
    data = sample_data()
    dci = iterator(data, _OneReaderAtATime)
    write(tmp_path / "f.zarr", dci, kind)
    np.testing.assert_array_equal(read_back(tmp_path / "f.zarr"), data)
    assert not dci.overlapped
    covered = np.zeros(data.shape, dtype=int)
    for selection in dci.calls:
        covered[selection] += 1
    assert (covered == 1).all()
    assert len(dci.calls) > 4


def test_blockwise_is_byte_identical_to_process_pool(tmp_path) -> None:
    data = sample_data()
    write_all_kinds(tmp_path / "serial.zarr", data)
    write_all_kinds(tmp_path / "pool.zarr", data, number_of_jobs=2, multiprocessing_context="fork")
    from zarr.storage import LocalStore

    assert dump_kinds(LocalStore(str(tmp_path / "serial.zarr"))) == dump_kinds(LocalStore(str(tmp_path / "pool.zarr")))


def test_failed_read_names_dataset_and_block_and_keeps_it_incomplete(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(blockwise, "BLOCK_BYTES", 4096)
    target = tmp_path / "broken.zarr"
    with pytest.raises(WriteError) as info:
        write(target, iterator(sample_data(), _BrokenAt), "compressed")
    message = str(info.value)
    assert f"/{DATASET}" in message and "[128:" in message and "acquisition card lost" in message
    meta = json.loads((target / DATASET / "zarr.json").read_text())
    assert meta["attributes"][INCOMPLETE_ATTR] is True
    assert not (target / "zarr.json").exists()


class _Recording(ArrayIterator):
    log: ClassVar[list[str]] = []

    def __init__(self, array, name, **kwargs):
        self.name = name
        super().__init__(array, **kwargs)

    def _get_data(self, selection):
        _Recording.log.append(self.name)
        return super()._get_data(selection)


def test_serial_iterators_are_written_round_robin(tmp_path, monkeypatch) -> None:
    """Several iterators in one write advance together, a block each in turn (as the queue promises),
    rather than one after the other; a plain DataChunkIterator among them is interleaved too."""
    from hdmf.data_utils import DataChunkIterator

    from nwbzarr import NWBZarrIO

    from .conftest import nwbfile

    monkeypatch.setattr(blockwise, "BLOCK_BYTES", 4096)
    _Recording.log = []
    data = sample_data()
    series = {name: iterator(data, _Recording, name=name) for name in ("a", "b")}
    series["plain"] = DataChunkIterator(data=iter(list(data)), buffer_size=50)
    with NWBZarrIO(tmp_path / "rr.zarr", mode="w") as io:
        io.write(nwbfile(series))
    log = _Recording.log
    assert sorted(set(log)) == ["a", "b"] and len(log) > 8
    first_half = log[: len(log) // 2]
    assert first_half.count("a") >= 2 and first_half.count("b") >= 2  # interleaved, not a then b
    for name in ("a", "b", "plain"):
        np.testing.assert_array_equal(read_back(tmp_path / "rr.zarr", name), data)
