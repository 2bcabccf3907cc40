"""Run as a script by test_worker_lifetime.py: append a TimeSeries read slowly by two worker processes
(``python _slow_append.py STORE MARKER_DIR CONTEXT``); each worker touches MARKER_DIR/<pid> per block."""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from hdmf.data_utils import GenericDataChunkIterator
from pynwb import TimeSeries

from nwbzarr import NWBZarrIO

ROWS, COLUMNS, BLOCK_ROWS = 4000, 4, 10


class SlowIterator(GenericDataChunkIterator):
    """Every block takes half a second; values are the constant 7."""

    def __init__(self, marker_dir: str, **kwargs) -> None:
        self.marker_dir = marker_dir
        self._kwargs = kwargs
        super().__init__(**kwargs)

    def _get_data(self, selection):
        open(os.path.join(self.marker_dir, str(os.getpid())), "w").close()
        time.sleep(0.5)
        return np.full((selection[0].stop - selection[0].start, COLUMNS), 7, dtype="int16")

    def _get_maxshape(self):
        return (ROWS, COLUMNS)

    def _get_dtype(self):
        return np.dtype("int16")

    def _to_dict(self) -> dict:
        return {"marker_dir": self.marker_dir, **self._kwargs}

    @staticmethod
    def _from_dict(state: dict) -> SlowIterator:
        state = dict(state)
        return SlowIterator(state.pop("marker_dir"), **state)


if __name__ == "__main__":
    store, markers, context = sys.argv[1:4]
    with NWBZarrIO(store, mode="a") as io:
        nwb = io.read()
        data = SlowIterator(markers, buffer_shape=(BLOCK_ROWS, COLUMNS), chunk_shape=(BLOCK_ROWS, COLUMNS))
        nwb.add_acquisition(TimeSeries(name="slow", data=data, unit="V", rate=1.0))
        io.write(nwb, number_of_jobs=2, multiprocessing_context=context)
