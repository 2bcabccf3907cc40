"""Helpers for the parallel tests: small NWB files written from iterators, store factories, byte dumps."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pynwb import NWBFile, TimeSeries
from tests.storage.conftest import redis_kwargs, redis_server  # noqa: F401  (fixtures)
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore

from nwbzarr import NWBZarrIO, ZarrDataIO

from .iterators import ArrayIterator

DATASET = "acquisition/ts/data"
SHAPE = (300, 70)
CHUNKS = (16, 10)
BUFFER = (64, 70)

# how each kind of array is asked for: plain (no codec), compressed (the default codec), sharded
KINDS: dict[str, dict[str, Any]] = {
    "plain": {"chunks": CHUNKS, "compressors": None},
    "compressed": {},
    "sharded": {"chunks": CHUNKS, "shards": (64, 20)},
}


def sample_data(shape: tuple[int, ...] = SHAPE, dtype: str = "int16") -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.normal(0, 300, size=shape).cumsum(axis=0) % 30000).astype(dtype)


def wrap(iterator: Any, kind: str) -> Any:
    options = KINDS[kind]
    return ZarrDataIO(data=iterator, **options) if options else iterator


def nwbfile(series: dict[str, Any]) -> NWBFile:
    nwb = NWBFile(session_description="parallel", identifier="parallel-test",
                  session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    for name, data in series.items():
        nwb.add_acquisition(TimeSeries(name=name, data=data, unit="uV", rate=30000.0))
    return nwb


def write(target: Any, iterator: Any, kind: str = "compressed", **write_kwargs: Any) -> None:
    """One TimeSeries ``ts`` written from ``iterator`` as a ``kind`` array."""
    with NWBZarrIO(target, mode="w") as io:
        io.write(nwbfile({"ts": wrap(iterator, kind)}), **write_kwargs)


def write_all_kinds(target: Any, data: np.ndarray, **write_kwargs: Any) -> None:
    """Three TimeSeries (``plain``, ``compressed``, ``sharded``) from one array, in one write."""
    with NWBZarrIO(target, mode="w") as io:
        io.write(nwbfile({kind: wrap(iterator(data), kind) for kind in KINDS}), **write_kwargs)


def dump_kinds(store: Any) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for kind in KINDS:
        found = dump(store, f"acquisition/{kind}/data")
        assert len([k for k in found if "/c/" in k]) >= 4, f"{kind}: too few chunks written"
        out.update(found)
    return out


def iterator(data: np.ndarray, cls: type = ArrayIterator, **kwargs: Any) -> Any:
    buffer = tuple(min(b, s) for b, s in zip(BUFFER, data.shape))
    return cls(data, buffer_shape=buffer, chunk_shape=CHUNKS, **kwargs)


def dump(store: Any, prefix: str = DATASET) -> dict[str, bytes]:
    """Every key under ``prefix`` and its bytes (metadata and chunks)."""
    async def read() -> dict[str, bytes]:
        keys = [k async for k in store.list_prefix(prefix + "/")]
        proto = default_buffer_prototype()
        return {k: (await store.get(k, proto)).to_bytes() for k in keys}

    return sync(read())


def read_back(target: Any, name: str = "ts") -> np.ndarray:
    with NWBZarrIO(target, mode="r") as io:
        return np.asarray(io.read().acquisition[name].data[:])


def make_store(kind: str, root: Path, request: pytest.FixtureRequest | None = None) -> Any:
    """A fresh store of one kind that claims multi-process support."""
    from nwbzarr.storage import H5ContainerStore, LMDBStore, RedisStore, SQLiteStore, ZipContainerStore

    if kind == "local":
        return LocalStore(str(root / "store.zarr"))
    if kind == "sqlite":
        return SQLiteStore(root / "store.sqlite")
    if kind == "lmdb":
        return LMDBStore(root / "store.lmdb")
    if kind == "h5container":
        return H5ContainerStore(root / "store.h5c")
    if kind == "zipcontainer":
        return ZipContainerStore(root / "store.zipc")
    if kind == "redis":
        return RedisStore(**request.getfixturevalue("redis_kwargs"))
    raise ValueError(kind)
