"""A real HTTP server on 127.0.0.1 serving a directory, with knobs for what remote reads must survive: a cap
on concurrent requests (beyond it the connection is reset), a fraction of requests answered 503, a fixed
status for every request (403 ...), a per-request delay, and counters of requests, bytes and peak concurrency."""

from __future__ import annotations

import contextlib
import functools
import random
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class ServerStats:
    """What the server saw: requests answered (any status), body bytes sent, connections reset because of
    the cap, 503s sent, the most requests in flight at once (counting the ones reset), and the waves of
    requests (one that finds none in flight starts a wave: with a delay set, the client's round trips)."""

    requests: int = 0
    bytes_sent: int = 0
    reset: int = 0
    unavailable: int = 0
    peak_in_flight: int = 0
    in_flight: int = 0
    waves: int = 0  # requests that found none in flight: the client's round trips (with a delay set)
    paths: list[str] = field(default_factory=list)


class _Handler(SimpleHTTPRequestHandler):
    server: _DirectoryServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        server = self.server
        stats = server.stats
        with server.lock:
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight + 1)
            if server.max_connections is not None and stats.in_flight >= server.max_connections:
                stats.reset += 1
                self._reset()
                return
            stats.waves += stats.in_flight == 0
            stats.in_flight += 1
            stats.requests += 1
            stats.paths.append(self.path)
            status = server.status
            if status is None and server.rng.random() < server.unavailable_fraction:
                status = 503
                stats.unavailable += 1
        try:
            if server.delay:
                time.sleep(server.delay)
            if status is not None:
                body = f"status {status}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self._leave()  # before the last bytes: the client's request is still in flight here
                self.wfile.write(body)
                return
            f = self.send_head()
        except Exception:
            self._leave()
            raise
        self._leave()
        if f is None:
            return
        with f:
            data = f.read()
        if not head:
            self.wfile.write(data)
            with server.lock:
                stats.bytes_sent += len(data)

    def _leave(self) -> None:
        with self.server.lock:
            self.server.stats.in_flight -= 1

    def _reset(self) -> None:
        """Close the connection with a TCP reset, without an answer (a server over its capacity)."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()


class _DirectoryServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, directory: Path, max_connections: int | None, unavailable_fraction: float,
                 status: int | None, delay: float, seed: int) -> None:
        handler = functools.partial(_Handler, directory=str(directory))
        super().__init__(("127.0.0.1", 0), handler)
        self.max_connections = max_connections
        self.unavailable_fraction = unavailable_fraction
        self.status = status
        self.delay = delay
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stats = ServerStats()


@dataclass
class RunningServer:
    """A server in a thread: ``url(name)`` is the address of ``directory/name``."""

    port: int
    stats: ServerStats

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


@contextlib.contextmanager
def serve_directory(directory: Path, *, max_connections: int | None = None, unavailable_fraction: float = 0.0,
                    status: int | None = None, delay: float = 0.0, seed: int = 0) -> Iterator[RunningServer]:
    """Serve ``directory`` on 127.0.0.1 (a free port) until the block ends. ``max_connections``: requests in
    flight beyond it are reset; ``unavailable_fraction``: that share of requests gets a 503 (drawn from
    ``seed``); ``status``: every request gets this status; ``delay``: seconds before every answer."""
    server = _DirectoryServer(directory, max_connections, unavailable_fraction, status, delay, seed)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield RunningServer(server.server_address[1], server.stats)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
