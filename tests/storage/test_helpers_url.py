"""copy_store / rename / rmdir / getsize / listdir and open_store (moto S3 server for s3://)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from zarr.core.buffer import cpu
from zarr.storage import FsspecStore, LocalStore, MemoryStore, ZipStore

from nwbzarr.storage import (
    DBMStore,
    LMDBStore,
    RedisStore,
    SQLiteStore,
    copy_store,
    getsize,
    listdir,
    open_store,
    rename,
    rmdir,
)


def _fill(store, items: dict[str, bytes]) -> None:
    for k, v in items.items():
        zarr.core.sync.sync(store.set(k, cpu.Buffer.from_bytes(v)))


def _dump(store) -> dict[str, bytes]:
    async def go():
        return {k: (await store.get(k)).to_bytes() async for k in store.list()}

    return zarr.core.sync.sync(go())


keys = st.lists(
    st.from_regex(r"[a-z%_]{1,3}(/[a-z0-9.]{1,3}){0,2}", fullmatch=True), min_size=1, max_size=12, unique=True
)


@settings(max_examples=25, deadline=None)
@given(names=keys, data=st.data())
def test_copy_store_copies_exactly(names, data) -> None:
    items = {k: data.draw(st.binary(max_size=64)) for k in names}
    # a key cannot also be a directory of another key in a file-like hierarchy
    items = {k: v for k, v in items.items() if not any(o.startswith(k + "/") for o in items)}
    src, dst = MemoryStore({}), MemoryStore({})
    _fill(src, items)
    n, skipped, nbytes = copy_store(src, dst)
    assert (n, skipped, nbytes) == (len(items), 0, sum(map(len, items.values())))
    assert _dump(dst) == items


def test_copy_store_paths_and_if_exists() -> None:
    src, dst = MemoryStore({}), MemoryStore({})
    _fill(src, {"a/zarr.json": b"1", "a/c/0": b"22", "b/zarr.json": b"3"})
    assert copy_store(src, dst, "a", "x/y") == (2, 0, 3)
    assert _dump(dst) == {"x/y/zarr.json": b"1", "x/y/c/0": b"22"}
    with pytest.raises(ValueError, match="already exist in dest"):
        copy_store(src, dst, "a", "x/y")
    assert copy_store(src, dst, "a", "x/y", if_exists="skip") == (0, 2, 0)
    _fill(src, {"a/c/0": b"new"})
    assert copy_store(src, dst, "a", "x/y", if_exists="replace") == (2, 0, 4)
    assert _dump(dst)["x/y/c/0"] == b"new"
    assert copy_store(src, MemoryStore({}), dry_run=True)[0] == 3
    with pytest.raises(ValueError, match="if_exists must be"):
        copy_store(src, dst, if_exists="merge")


def test_rename_rmdir_getsize_listdir(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "s.sqldb")
    _fill(store, {"g/zarr.json": b"{}", "g/a/c/0": b"123", "g/a/c/1": b"45", "h": b"x"})
    assert listdir(store) == ["g", "h"]
    assert listdir(store, "g/a") == ["c"]
    assert getsize(store, "g") == 7 and getsize(store, "g/a/c/0") == 3 and getsize(store) == 8
    rename(store, "g/a", "g/b")
    assert listdir(store, "g") == ["b", "zarr.json"]
    rename(store, "h", "k/h")
    assert _dump(store)["k/h"] == b"x"
    with pytest.raises(ValueError, match="into itself"):
        rename(store, "g", "g/sub")
    with pytest.raises(FileNotFoundError, match="nothing to rename"):
        rename(store, "nope", "other")
    rmdir(store, "g")
    assert listdir(store) == ["k"]
    rmdir(store)
    assert listdir(store) == []


# ---------------------------------------------------------------------- open_store


def test_open_store_schemes_and_paths(tmp_path, redis_server, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = open_store("sqlite://rel.sqldb", mode="w")
    assert isinstance(s, SQLiteStore) and s.path == str(tmp_path / "rel.sqldb") and not s.read_only
    s = open_store(f"sqlite://{tmp_path}/abs.sqldb", mode="r")
    assert isinstance(s, SQLiteStore) and s.path == str(tmp_path / "abs.sqldb") and s.read_only
    assert isinstance(open_store("lmdb://db.lmdb", mode="a"), LMDBStore)
    assert isinstance(open_store("dbm://file.dbm", mode="a"), DBMStore)
    r = open_store(f"redis://127.0.0.1:{redis_server['port']}/2?prefix=p1", mode="a")
    assert r == RedisStore("p1", host="127.0.0.1", port=redis_server["port"], db=2)
    assert isinstance(open_store("x.sqldb", mode="w"), SQLiteStore)
    assert isinstance(open_store(tmp_path / "y.lmdb", mode="w"), LMDBStore)
    assert isinstance(open_store("z.zip", mode="w"), ZipStore)
    assert isinstance(open_store(tmp_path / "plain", mode="w"), LocalStore)
    assert isinstance(open_store("memory://", mode="w"), MemoryStore)
    m = MemoryStore()
    assert open_store(m) is m


def test_open_store_detects_existing_files(tmp_path) -> None:
    sq = SQLiteStore(tmp_path / "noext")
    sq.set_sync("k", cpu.Buffer.from_bytes(b"v"))
    sq.close()
    assert isinstance(open_store(str(tmp_path / "noext")), SQLiteStore)
    lm = LMDBStore(tmp_path / "envdir", map_size=2**22)
    lm.set_sync("k", cpu.Buffer.from_bytes(b"v"))
    assert isinstance(open_store(str(tmp_path / "envdir")), LMDBStore)


def test_open_store_bad_input() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        open_store("x.sqldb", mode="rw")
    with pytest.raises(ValueError, match="names no file"):
        open_store("sqlite://", mode="w")
    with pytest.raises(ValueError, match="malformed URL 'sqlite:/x.sqldb'"):
        open_store("sqlite:/x.sqldb", mode="w")
    with pytest.raises(TypeError, match="needs a URL, a path or a Store"):
        open_store(42)


def test_open_store_s3_on_moto(s3_server) -> None:
    import boto3

    boto3.client("s3", endpoint_url=s3_server["endpoint_url"]).create_bucket(Bucket="bkt")
    opts = {"client_kwargs": {"endpoint_url": s3_server["endpoint_url"]}, "anon": False}
    store = open_store("s3://bkt/data.zarr", mode="w", **opts)
    assert isinstance(store, FsspecStore)
    arr = zarr.create_array(store, name="a", shape=(20,), chunks=(7,), dtype="f8")
    arr[:] = np.arange(20.0)
    again = open_store("s3://bkt/data.zarr", mode="r", **opts)
    assert again.read_only
    assert np.array_equal(zarr.open_array(again, path="a")[:], np.arange(20.0))
    dest = MemoryStore({})
    n, _, _ = copy_store(again, dest)
    assert n == 5 and np.array_equal(zarr.open_array(dest, path="a")[:], np.arange(20.0))


@pytest.mark.parametrize("url", ["sqlite:///{p}/x.sqldb", "icechunk:///{p}/x.icechunk", "lmdb:///{p}/x.lmdb",
                                 "memory://x", "redis://127.0.0.1:1/0", "file://{p}/x.zarr", "{p}/x.zarr"])
def test_nwbzarr_store_urls_are_not_remote(url, tmp_path):
    """URLs of nwbzarr's own stores are no fsspec locations: a conversion's existence check finds their
    file (or nothing) without asking fsspec, which knows no such protocol."""
    from nwbzarr.storage.url import is_url, location_exists

    location = url.format(p=tmp_path)
    assert not is_url(location)
    assert not location_exists(location)
    if "{p}/x." in url and not url.startswith(("memory", "redis")):
        (tmp_path / Path(location).name).mkdir()
        assert location_exists(location)


def test_object_store_urls_are_remote():
    from nwbzarr.storage.url import is_url

    assert is_url("s3://bucket/x.zarr") and is_url("https://host/x.zarr") and is_url("gs://b/x")
