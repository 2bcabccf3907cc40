"""Servers of the remote benchmark: an HTTP server for a directory and moto's S3, both on 127.0.0.1.

Both add a fixed delay to every request (a model of network latency), serve at most ``max_connections``
requests at once (more requests wait for a slot, none fails) and count requests, body bytes (both
directions) and the most requests in flight at once, waiting ones included. A benchmark child resets and
reads the counters through ``/__bench__/reset`` and ``/__bench__/stats`` (neither delayed nor counted), so
a figure counts only its timed operation.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

CONTROL_PREFIX = "/__bench__/"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class Counters:
    """What a server saw since its last reset."""

    requests: int = 0
    bytes_out: int = 0  # response bodies
    bytes_in: int = 0  # request bodies (S3 PUTs)
    peak_in_flight: int = 0  # most requests arrived and not yet answered, waiting ones included
    in_flight: int = 0
    methods: dict[str, int] = field(default_factory=dict)  # requests per HTTP method (GET, HEAD, PUT ...)
    cpu_start: float = field(default_factory=time.process_time)  # the serving process's CPU time at reset


class Gate:
    """The delay, the cap on requests served at once, and the counters one server shares between threads."""

    def __init__(self, delay_s: float, max_connections: int) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        if delay_s < 0:
            raise ValueError(f"the delay must not be negative, got {delay_s} s")
        self.delay_s = delay_s
        self.slots = threading.BoundedSemaphore(max_connections)
        self.lock = threading.Lock()
        self.counters = Counters()

    @contextlib.contextmanager
    def request(self, method: str) -> Iterator[None]:
        """Count one request, wait for a slot, sleep the delay; the body is sent inside the slot."""
        with self.lock:
            self.counters.methods[method] = self.counters.methods.get(method, 0) + 1
            self.counters.requests += 1
            self.counters.in_flight += 1
            self.counters.peak_in_flight = max(self.counters.peak_in_flight, self.counters.in_flight)
        try:
            with self.slots:
                if self.delay_s:
                    time.sleep(self.delay_s)
                yield
        finally:
            with self.lock:
                self.counters.in_flight -= 1

    def add_bytes(self, out: int = 0, into: int = 0) -> None:
        with self.lock:
            self.counters.bytes_out += out
            self.counters.bytes_in += into

    def reset(self) -> None:
        with self.lock:
            in_flight = self.counters.in_flight
            self.counters = Counters(in_flight=in_flight)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            out = asdict(self.counters)
        out.pop("in_flight")
        # CPU seconds of the process serving (both servers run in the benchmark's parent, idle otherwise)
        out["server_cpu_s"] = time.process_time() - out.pop("cpu_start")
        return out

    def control(self, path: str) -> bytes | None:
        """The answer to a control path (reset or stats), or None for a path that is no control path."""
        if path == CONTROL_PREFIX + "reset":
            self.reset()
            return b"{}"
        if path == CONTROL_PREFIX + "stats":
            return json.dumps(self.snapshot()).encode()
        return None


# --- HTTP directory server --------------------------------------------------------------------------


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, stop) of a single ``bytes=`` range against a file of ``size`` bytes; None without a header.
    Raises ValueError for a range the file cannot satisfy (answered 416)."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match.groups() == ("", ""):
        raise ValueError(header)
    first, last = match.groups()
    if first == "":  # suffix: the last N bytes
        start, stop = max(size - int(last), 0), size
    else:
        start = int(first)
        stop = size if last == "" else min(int(last) + 1, size)
    if start >= size or stop <= start:
        raise ValueError(header)
    return start, stop


class _FileHandler(BaseHTTPRequestHandler):
    """GET and HEAD of files under the server's root, with single byte ranges; keep-alive (HTTP/1.1)."""

    protocol_version = "HTTP/1.1"
    # headers and body go out as two writes: with Nagle's algorithm on, the body would wait for the client's
    # delayed ACK of the headers (up to 40 ms on Linux), a stall no real server has
    disable_nagle_algorithm = True
    server: DirectoryServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, head: bool) -> None:
        path = urlsplit(self.path).path
        control = self.server.gate.control(path)
        if control is not None:
            self._send(200, control, {"Content-Type": "application/json"}, head)
            return
        with self.server.gate.request(self.command):
            self._serve_file(path, head)

    def _serve_file(self, url_path: str, head: bool) -> None:
        file = self.server.resolve(url_path)
        if file is None:
            self._send(404, b"not found", {}, head)
            return
        stat = file.stat()
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream",
                   "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True),
                   "ETag": f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'}
        try:
            byte_range = parse_range(self.headers.get("Range"), stat.st_size)
        except ValueError:
            self._send(416, b"", {"Content-Range": f"bytes */{stat.st_size}"}, head)
            return
        start, stop = byte_range or (0, stat.st_size)
        with open(file, "rb") as fh:
            fh.seek(start)
            body = fh.read(stop - start)
        if byte_range is not None:
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{stat.st_size}"
        self._send(206 if byte_range else 200, body, headers, head)

    def _send(self, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
            if not self.path.startswith(CONTROL_PREFIX):
                self.server.gate.add_bytes(out=len(body))


class DirectoryServer(ThreadingHTTPServer):
    """Serves the files under ``root`` (no listings) through a ``Gate``."""

    daemon_threads = True
    request_queue_size = 1024  # connections beyond the threads' pace wait in the kernel, not refused

    def __init__(self, root: Path, gate: Gate) -> None:
        super().__init__(("127.0.0.1", 0), _FileHandler)
        self.root = Path(root).resolve()
        self.gate = gate

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that closes its connection mid-request (a reset) is no error of the server: quiet."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def resolve(self, url_path: str) -> Path | None:
        """The file an URL path names under the root; None when it is missing or outside the root."""
        candidate = (self.root / unquote(url_path).lstrip("/")).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            return None
        return candidate if candidate.is_file() else None


@dataclass
class Served:
    """A running server: its base URL and its gate (delay, cap, counters)."""

    base_url: str
    gate: Gate

    @property
    def stats_url(self) -> str:
        return self.base_url + CONTROL_PREFIX.rstrip("/")


@contextlib.contextmanager
def serve_directory(root: Path, delay_s: float, max_connections: int) -> Iterator[Served]:
    """Serve ``root`` over HTTP on a free 127.0.0.1 port until the block ends."""
    server = DirectoryServer(root, Gate(delay_s, max_connections))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_address[1]}", server.gate)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- moto S3 ----------------------------------------------------------------------------------------


class _CountingInput:
    """A WSGI input stream that reports the bytes read from it to the gate."""

    def __init__(self, stream: Any, gate: Gate) -> None:
        self._stream = stream
        self._gate = gate

    def read(self, *args: Any) -> bytes:
        data = self._stream.read(*args)
        self._gate.add_bytes(into=len(data))
        return data

    def readline(self, *args: Any) -> bytes:
        data = self._stream.readline(*args)
        self._gate.add_bytes(into=len(data))
        return data

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self._gate.add_bytes(into=len(line))
            yield line


class GatedWSGI:
    """WSGI middleware putting moto's application behind a ``Gate`` (delay, cap, counters) and answering
    the control paths itself."""

    def __init__(self, app: Callable[..., Iterable[bytes]], gate: Gate) -> None:
        self.app = app
        self.gate = gate

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        control = self.gate.control(environ.get("PATH_INFO", ""))
        if control is not None:
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(control)))])
            return [control]
        with self.gate.request(environ.get("REQUEST_METHOD", "?")):
            environ["wsgi.input"] = _CountingInput(environ["wsgi.input"], self.gate)
            chunks = list(self.app(environ, start_response))  # the answer is built inside the slot
        self.gate.add_bytes(out=sum(len(c) for c in chunks))
        return chunks


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_s3(delay_s: float, max_connections: int) -> Iterator[Served]:
    """moto's S3 on a free 127.0.0.1 port behind a ``Gate``, with dummy credentials in the environment.

    Built like ``moto.server.ThreadedMotoServer`` (moto's WSGI application on a threaded werkzeug server),
    with the gate wrapped around the application, since ThreadedMotoServer takes no middleware."""
    import logging

    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server

    class NoDelayHandler(WSGIRequestHandler):
        disable_nagle_algorithm = True  # as for the HTTP server: no delayed-ACK stall between headers and body

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr

    for var, val in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(var, val)
    gate = Gate(delay_s, max_connections)
    app = GatedWSGI(DomainDispatcherApplication(create_backend_app), gate)
    server = make_server("127.0.0.1", _free_port(), app, threaded=True, request_handler=NoDelayHandler)
    server.socket.listen(1024)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_address[1]}", gate)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- client side (benchmark children; standard library only, so hdmf-zarr's venv can use it) ---------


def reset_counters(stats_url: str) -> None:
    """Zero a server's counters before a timed operation."""
    from urllib.request import urlopen

    with urlopen(stats_url + "/reset", timeout=30) as answer:
        answer.read()


def read_counters(stats_url: str) -> dict[str, Any]:
    """A server's counters since the last reset."""
    from urllib.request import urlopen

    with urlopen(stats_url + "/stats", timeout=30) as answer:
        return json.loads(answer.read())
