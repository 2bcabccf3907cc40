"""``WriteSession``: what writers see of the file being written; its documents are stored as zarr reads them,
and an ``IteratorWriter`` marks an array incomplete between ``prepare()`` and ``complete()``."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import zarr
from tests.parallel.iterators import ArrayIterator
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore

from nwbzarr import NWBZarrIO
from nwbzarr.format.base import ArraySpec
from nwbzarr.format.detect import get_layout
from nwbzarr.writing import INCOMPLETE_ATTR, IteratorWriter, WriteSession


@dataclass
class Job:
    path: str
    spec: ArraySpec
    documents: dict


def stored_json(store: LocalStore, key: str) -> dict:
    return json.loads(sync(store.get(key, default_buffer_prototype())).to_bytes())


def test_documents_are_stored_as_zarr_reads_them(tmp_path) -> None:
    store = LocalStore(str(tmp_path / "d.zarr"))
    session = WriteSession(store, get_layout("v3"))
    spec = ArraySpec(shape=(5, 3), kind="numeric", dtype=np.dtype("float32"), chunks=(5, 3))
    documents = {**session.layout.group_documents("", {}),
                 **session.layout.array_documents("x", spec, {"note": np.float64(np.nan), "n": np.int64(3)})}
    session.put_documents(documents)
    array = zarr.open_array(store=store, path="x", mode="r")
    assert array.shape == (5, 3) and array.dtype == np.float32
    assert array.attrs["n"] == 3 and np.isnan(array.attrs["note"])


def test_iterator_writer_is_incomplete_from_prepare_until_finish(tmp_path) -> None:
    store = LocalStore(str(tmp_path / "i.zarr"))
    session = WriteSession(store, get_layout("v3"))
    values = np.arange(60, dtype="int16").reshape(20, 3)
    spec = ArraySpec(shape=(0, 3), kind="numeric", dtype=values.dtype, chunks=(8, 3))
    writer = IteratorWriter(session, Job("a", spec, session.layout.array_documents("a", spec, {})),
                            ArrayIterator(values, chunk_shape=(8, 3), buffer_shape=(8, 3)))
    assert writer.by_block()
    shape = writer.prepare()
    assert shape == (20, 3)
    stored = stored_json(store, "a/zarr.json")
    assert stored["shape"] == [20, 3] and stored["attributes"][INCOMPLETE_ATTR] is True
    writer.complete(shape)
    writer.finish()
    stored = stored_json(store, "a/zarr.json")
    assert stored["shape"] == [20, 3] and INCOMPLETE_ATTR not in stored["attributes"]


def test_zarr_io_hands_writers_its_store_layout_and_progress_option(tmp_path) -> None:
    with NWBZarrIO(tmp_path / "s.zarr", mode="w", zarr_format=2) as io:
        io.show_progress = True
        session = io.write_session()
        assert session.store is io.store and session.layout is io.layout and session.layout.zarr_format == 2
        assert session.show_progress is True
