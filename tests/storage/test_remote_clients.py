"""Choosing the remote client (nwbzarr.storage.remote_clients): obstore by default for reads it can serve,
fsspec for writes and for options only s3fs knows; either on request (an argument, the ``remote_client`` key of storage options, or ``$NWBZARR_REMOTE_CLIENT``), one options dict
for both (fsspec spellings translated for obstore)."""

from __future__ import annotations

import pytest
from zarr.storage import FsspecStore, ObjectStore

from nwbzarr.backend.location import is_remote_store, store_location, store_options
from nwbzarr.storage.remote import HTTP_ATTEMPTS, is_remote
from nwbzarr.storage.remote_clients import CLIENT_ENV, choose_remote_client
from nwbzarr.storage.url import open_store

URL = "http://127.0.0.1:9/x.nwb.zarr"


@pytest.fixture(autouse=True)
def no_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CLIENT_ENV, raising=False)


def test_reads_default_to_obstore_and_writes_to_fsspec() -> None:
    assert isinstance(open_store(URL), ObjectStore)
    assert isinstance(open_store("s3://bucket/x.zarr", anon=True, client_kwargs={"region_name": "us-east-1"}),
                      ObjectStore)
    assert isinstance(open_store(URL, mode="a"), FsspecStore)


@pytest.mark.parametrize("options", [{"profile": "lab"}, {"requester_pays": True}, {"anon": True, "max_concurrency": 4},
                                     {"client_kwargs": {"verify": False}}])
def test_options_only_s3fs_knows_keep_fsspec(options: dict) -> None:
    assert isinstance(open_store("s3://bucket/x.zarr", **options), FsspecStore)


def test_s3_reads_signed_by_a_profile_or_nothing_keep_fsspec(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's credential chain (profiles, SSO, instance roles) and its clear "no credentials" error."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    assert isinstance(open_store("s3://bucket/x.zarr"), FsspecStore)
    assert isinstance(open_store("s3://bucket/x.zarr", key="k", secret="s"), ObjectStore)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    assert isinstance(open_store("s3://bucket/x.zarr"), FsspecStore)  # half a key pair: botocore says what is missing
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    assert isinstance(open_store("s3://bucket/x.zarr"), ObjectStore)
    monkeypatch.setenv("AWS_PROFILE", "lab")
    assert isinstance(open_store("s3://bucket/x.zarr"), FsspecStore)


def test_the_environment_can_pin_fsspec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CLIENT_ENV, "fsspec")
    assert isinstance(open_store(URL), FsspecStore)


def test_an_http_endpoint_from_the_environment_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_ENDPOINT_URL=http://... (MinIO, moto) works with obstore as with s3fs, which takes it as given."""
    from nwbzarr.storage.remote_clients import obstore_options

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    assert obstore_options("s3", {"anon": True})["client_options"] == {"allow_http": True}
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://s3.example.org")
    assert "client_options" not in obstore_options("s3", {"anon": True})


@pytest.mark.parametrize("name", ["obstore", "OBSTORE"])
def test_obstore_on_request(name: str) -> None:
    store = open_store(URL, remote_client=name)
    assert isinstance(store, ObjectStore) and store.read_only
    assert is_remote(store) and is_remote_store(store)
    assert store_location(store) == URL
    assert not open_store(URL, mode="a", remote_client="obstore").read_only


def test_the_options_key_selects_the_client() -> None:
    """``storage_options={"remote_client": ...}`` (how NWBZarrIO and the CLI pass it) reaches open_store."""
    assert isinstance(open_store(URL, **{"remote_client": "obstore"}), ObjectStore)
    assert isinstance(open_store(URL, **{"remote_client": "fsspec"}), FsspecStore)


def test_the_environment_sets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CLIENT_ENV, "obstore")
    assert isinstance(open_store(URL), ObjectStore)
    assert isinstance(open_store(URL, remote_client="fsspec"), FsspecStore)  # an explicit choice wins


@pytest.mark.parametrize("name", ["boto", "", 3])
def test_unknown_client_is_refused_by_name(name: object) -> None:
    if name == "":
        assert choose_remote_client(name) == "fsspec"  # empty: not chosen
        return
    with pytest.raises(ValueError, match=f"remote_client= {name!r} is not a remote client"):
        open_store(URL, remote_client=name)


def test_unknown_client_in_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CLIENT_ENV, "curl")
    with pytest.raises(ValueError, match=f"{CLIENT_ENV} 'curl'"):
        open_store(URL)


def test_obstore_refuses_schemes_it_does_not_serve() -> None:
    with pytest.raises(ValueError, match="simplecache::s3"):
        open_store("simplecache::s3://b/x.zarr", remote_client="obstore")


def test_fsspec_s3_options_are_translated_for_obstore() -> None:
    """anon/endpoint_url/key/secret/client_kwargs become obstore's keys; a plain-HTTP endpoint is allowed;
    nwbzarr's retry policy is set; the options that reopen a sibling store keep them, not the bucket."""
    store = open_store("s3://bucket/x.nwb.zarr", remote_client="obstore", anon=True,
                       endpoint_url="http://127.0.0.1:9", key="k", secret="s",
                       client_kwargs={"region_name": "eu-west-1"}).store
    assert store.config["skip_signature"] in (True, "true")
    assert store.config["endpoint"] == "http://127.0.0.1:9"
    assert store.config["access_key_id"] == "k" and store.config["secret_access_key"] == "s"
    assert store.config["region"] == "eu-west-1"
    assert store.client_options["allow_http"] in (True, "true")
    assert store.retry_config["max_retries"] == HTTP_ATTEMPTS - 1
    wrapped = open_store("s3://bucket/x.nwb.zarr", remote_client="obstore", anon=True)
    assert store_location(wrapped) == "s3://bucket/x.nwb.zarr"
    options = store_options(open_store("s3://bucket/x.nwb.zarr", remote_client="obstore", anon=True,
                                       endpoint_url="http://127.0.0.1:9"))
    assert options["remote_client"] == "obstore" and "bucket" not in options
    assert isinstance(open_store("s3://other/y.zarr", **options), ObjectStore)


def test_unknown_obstore_option_is_refused() -> None:
    with pytest.raises(Exception, match="bogus"):
        open_store("s3://bucket/x.zarr", remote_client="obstore", bogus=1)


def test_read_only_s3_fsspec_stores_ask_no_size_first() -> None:
    """s3fs heads every object before a whole read unless max_concurrency is 1: nwbzarr's read-only default
    (S3 request counts: tests/backend/test_remote_options.py); a caller's value and writable opens keep theirs."""
    fsspec = {"remote_client": "fsspec"}
    assert open_store("s3://bucket/x.zarr", anon=True, **fsspec).fs.max_concurrency == 1
    assert open_store("s3://bucket/x.zarr", anon=True, max_concurrency=4, **fsspec).fs.max_concurrency == 4
    assert open_store("s3://bucket/x.zarr", mode="a", anon=True, **fsspec).fs.max_concurrency != 1
