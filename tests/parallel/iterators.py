"""Small picklable data chunk iterators for the parallel tests (imported by spawned workers: keep it light)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from hdmf.data_utils import GenericDataChunkIterator


class ArrayIterator(GenericDataChunkIterator):
    """Serves an in-memory array by selection; pickles by value."""

    def __init__(self, array: np.ndarray, **kwargs: Any) -> None:
        self.array = array
        self._kwargs = kwargs
        super().__init__(**kwargs)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        return self.array[selection]

    def _get_maxshape(self) -> tuple[int, ...]:
        return self.array.shape

    def _get_dtype(self) -> np.dtype:
        return self.array.dtype

    def _to_dict(self) -> dict:
        return {"array": self.array, **self._kwargs}

    @staticmethod
    def _from_dict(state: dict) -> ArrayIterator:
        state = dict(state)
        return ArrayIterator(state.pop("array"), **state)


class FailingIterator(ArrayIterator):
    """Raises for the block that starts at row ``fail_row`` (only inside a worker process)."""

    def __init__(self, array: np.ndarray, fail_row: int, parent_pid: int, **kwargs: Any) -> None:
        self.fail_row = fail_row
        self.parent_pid = parent_pid
        super().__init__(array, **kwargs)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        if selection[0].start == self.fail_row and os.getpid() != self.parent_pid:
            raise ValueError(f"sensor unplugged at row {self.fail_row}")
        return super()._get_data(selection)

    def _to_dict(self) -> dict:
        return {"fail_row": self.fail_row, "parent_pid": self.parent_pid, **super()._to_dict()}

    @staticmethod
    def _from_dict(state: dict) -> FailingIterator:
        state = dict(state)
        return FailingIterator(state.pop("array"), state.pop("fail_row"), state.pop("parent_pid"), **state)


class WrongShapeIterator(ArrayIterator):
    """Returns one row too few for every block (a broken ``_get_data``)."""

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        return super()._get_data(selection)[:-1]

    @staticmethod
    def _from_dict(state: dict) -> WrongShapeIterator:
        state = dict(state)
        return WrongShapeIterator(state.pop("array"), **state)


class ThreadCountIterator(ArrayIterator):
    """Every value is the number of BLAS threads the process allows while it reads (threadpoolctl)."""

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        from threadpoolctl import threadpool_info

        np.dot(np.ones((2, 2)), np.ones((2, 2)))  # numpy loads its BLAS lazily
        threads = max(info["num_threads"] for info in threadpool_info())
        shape = tuple(s.stop - s.start for s in selection)
        return np.full(shape, threads, dtype=self.array.dtype)

    @staticmethod
    def _from_dict(state: dict) -> ThreadCountIterator:
        state = dict(state)
        return ThreadCountIterator(state.pop("array"), **state)


class UnpicklableIterator(ArrayIterator):
    """Holds a lambda, so it cannot be sent to a spawned worker."""

    def __init__(self, array: np.ndarray, **kwargs: Any) -> None:
        super().__init__(array, **kwargs)
        self.transform = lambda x: x

    def __reduce__(self) -> Any:
        raise TypeError("UnpicklableIterator holds a lambda and cannot be pickled")
