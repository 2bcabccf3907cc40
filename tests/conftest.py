"""Fixtures shared by the whole suite: the shared data folder, NWB round-trip helpers and a moto S3
server on loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests that need it skip cleanly where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (only present beside the project checkout)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _quiet_known_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Zarr V3 specification.*")
        warnings.filterwarnings("ignore", message=".*Numcodecs codecs are not in the Zarr version 3.*")
        yield


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path, thread_local=False):  # flock on POSIX, LockFileEx on Windows: no fcntl needed
        yield


@pytest.fixture(scope="session")
def file_lock() -> Callable[[Path], contextlib.AbstractContextManager[None]]:
    """``with file_lock(path):`` holds an exclusive lock across processes (pytest-xdist workers, two CI runs):
    for fixtures that build something shared once, such as a cached virtual environment."""
    return _exclusive_lock


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict]:
    """moto's S3 in server mode on a free loopback port, with dummy credentials."""
    from moto.server import ThreadedMotoServer

    for var, val in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(var, val)
    with socket.socket() as sock:  # a free loopback port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield {"endpoint_url": f"http://127.0.0.1:{port}"}
    finally:
        server.stop()


@pytest.fixture(scope="session")
def make_public(s3_server) -> Callable[[str], None]:
    """``make_public(bucket)``: every object of a moto bucket readable by anyone and the bucket listable
    (as DANDI's are), so unsigned (``anon=True``) reads work."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server["endpoint_url"])

    def publish(bucket: str) -> None:
        client.put_bucket_acl(Bucket=bucket, ACL="public-read")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                client.put_object_acl(Bucket=bucket, Key=obj["Key"], ACL="public-read")

    return publish


@pytest.fixture()
def no_aws_credentials(s3_server, monkeypatch) -> Iterator[None]:
    """No AWS credentials anywhere, and botocore's default endpoint set to the moto server (``AWS_ENDPOINT_URL``),
    so an ``s3://`` URL without options reaches moto, and only unsigned reads can succeed."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server["endpoint_url"])
    # s3fs caches filesystems by their arguments, not by the environment: an ``anon=True`` instance made while
    # AWS_ENDPOINT_URL named another (since stopped) server must not be handed back here, nor ours later.
    s3fs = pytest.importorskip("s3fs")
    s3fs.S3FileSystem.clear_instance_cache()
    yield
    s3fs.S3FileSystem.clear_instance_cache()
