"""Fixtures shared by the whole suite: the shared data folder, NWB round-trip helpers and a moto S3
server on loopback."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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
