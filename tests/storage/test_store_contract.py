"""What every nwbzarr store declares (multi-process and fork safety) and how the container stores answer
byte ranges: as zarr's own LocalStore does for the same value."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import cpu
from zarr.core.sync import sync
from zarr.storage import LocalStore, MemoryStore

import nwbzarr.storage as storage
from nwbzarr.storage import H5ContainerStore, LRUStoreCache, ZipContainerStore
from nwbzarr.storage.capabilities import SupportsBlockingRead, SupportsSetMany, fork_safe, multiprocess_safe

VALUE = b"0123456789"


def _store_classes() -> list[type]:
    classes = {obj for name in storage.__all__ if inspect.isclass(obj := getattr(storage, name))}
    from nwbzarr.storage.icechunk import IcechunkNWBStore

    return sorted((c for c in classes | {IcechunkNWBStore} if issubclass(c, Store)), key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", _store_classes(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", ["supports_multiprocess_writes", "supports_fork"])
def test_every_store_class_declares_its_process_safety(cls: type, name: str) -> None:
    declared = inspect.getattr_static(cls, name)  # an annotation alone is not a declaration
    assert isinstance(declared, (bool, property)), f"{cls.__name__}.{name} = {declared!r}"


def test_store_classes_found() -> None:
    names = {c.__name__ for c in _store_classes()}
    assert {"SQLiteStore", "LMDBStore", "DBMStore", "RedisStore", "MongoDBStore", "MappingStore", "TempStore",
            "LRUStoreCache", "H5ContainerStore", "ZipContainerStore", "IcechunkNWBStore"} <= names


@pytest.mark.parametrize("cls", [H5ContainerStore, ZipContainerStore])
def test_container_stores_are_multiprocess_safe_only_with_a_lock(cls, tmp_path: Path) -> None:
    locked, unlocked = cls(tmp_path / "a"), cls(tmp_path / "b", lock=None)
    assert locked.supports_multiprocess_writes is True and multiprocess_safe(locked)
    assert unlocked.supports_multiprocess_writes is False and not multiprocess_safe(unlocked)
    assert locked.supports_fork is True and fork_safe(locked)


def test_a_cache_is_as_safe_as_the_store_it_wraps(tmp_path: Path) -> None:
    assert LRUStoreCache(storage.SQLiteStore(tmp_path / "c.sqldb")).supports_multiprocess_writes is True
    assert LRUStoreCache(MemoryStore()).supports_multiprocess_writes is False
    assert isinstance(LRUStoreCache(MemoryStore()).supports_fork, bool)


def test_fast_paths_are_named_capabilities(tmp_path: Path) -> None:
    for store in (H5ContainerStore(tmp_path / "h"), storage.SQLiteStore(tmp_path / "s.sqldb")):
        assert isinstance(store, SupportsSetMany) and isinstance(store, SupportsBlockingRead)
    assert not isinstance(MemoryStore(), SupportsSetMany) and not isinstance(LocalStore(tmp_path), SupportsBlockingRead)


# ------------------------------------------------------------------ byte ranges, as LocalStore answers them

def _packed(cls: type, root: Path) -> ZipContainerStore | H5ContainerStore:
    """A container store holding VALUE both as a plain file ('plain') and as a container member ('a/c/1')."""
    store = cls(root)
    zarr.create_array(store, name="a", shape=(4,), chunks=(1,), dtype="u1", compressors=None)
    store.set_sync("a/c/1", cpu.Buffer.from_bytes(VALUE))
    store.set_sync("plain", cpu.Buffer.from_bytes(VALUE))
    store.consolidate()
    assert store.container_files(), "the chunk must live in a container"
    return store


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Store]:
    root = tmp_path_factory.mktemp("ranges")
    local = LocalStore(root / "local")
    sync(local.set("plain", cpu.Buffer.from_bytes(VALUE)))
    return {"local": local, "h5": _packed(H5ContainerStore, root / "h5"), "zip": _packed(ZipContainerStore, root / "zip")}


def _answer(store: Store, key: str, byte_range) -> bytes | str:
    """The bytes read, 'type' for a request of the wrong type, 'error' for a range that cannot be read."""
    try:
        return sync(store.get(key, cpu.buffer_prototype, byte_range)).to_bytes()
    except TypeError:
        return "type"
    except (ValueError, OSError):  # LocalStore: ValueError, or OSError(EINVAL) seeking before 0
        return "error"


def _localstore_answer(stores: dict[str, Store], byte_range) -> bytes | str:
    """LocalStore's answer, except that end == start - 1 is an error there too: it only reads to the end
    because ``f.read(end - start)`` is then ``f.read(-1)`` (every other end < start is a ValueError)."""
    if isinstance(byte_range, RangeByteRequest) and byte_range.end < byte_range.start:
        return "error"
    return _answer(stores["local"], "plain", byte_range)


RANGES = st.one_of(
    st.builds(RangeByteRequest, st.integers(-3, 15), st.integers(-3, 15)),
    st.builds(OffsetByteRequest, st.integers(-3, 15)),
    st.builds(SuffixByteRequest, st.integers(-3, 15)),
    st.sampled_from([None, "0-3", (1, 2), slice(1, 3)]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(byte_range=RANGES)
@pytest.mark.parametrize("kind", ["h5", "zip"])
@pytest.mark.parametrize("key", ["a/c/1", "plain"])
def test_container_byte_ranges_match_localstore(stores, kind: str, key: str, byte_range) -> None:
    expected = _localstore_answer(stores, byte_range)
    assert _answer(stores[kind], key, byte_range) == expected
    if expected not in ("error", "type"):
        assert stores[kind].get_sync(key, byte_range=byte_range).to_bytes() == expected
        values = sync(stores[kind].get_partial_values(cpu.buffer_prototype, [(key, byte_range)]))
        assert values[0].to_bytes() == expected
    else:
        with pytest.raises((ValueError, TypeError)):
            stores[kind].get_sync(key, byte_range=byte_range)


# ------------------------------------------------------------------ verify decodes with what its caller gives


def test_verify_decodes_with_the_given_opener_and_by_default_with_the_safe_one(tmp_path: Path) -> None:
    from nwbzarr.format.safe_codecs import open_safe_array
    from nwbzarr.storage._verify import registered_array_opener

    store = H5ContainerStore(tmp_path / "v")
    zarr.create_array(store, name="a", shape=(4,), chunks=(1,), dtype="u1")[:] = 7
    assert registered_array_opener() is open_safe_array
    assert store.verify().ok and store.verify().chunks == 4
    opened = []

    def refusing(s: Store, path: str):
        opened.append(path)
        raise RuntimeError("not decoding today")

    report = store.verify(open_array=refusing)
    assert opened == ["a"] and report.problems == ["a: array metadata does not open: RuntimeError('not decoding today')"]
