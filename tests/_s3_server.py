"""moto's S3 as a real server on 127.0.0.1 behind a small WSGI middleware that counts the PUT requests in
flight (peak concurrency), can hold every PUT for a delay (so concurrent writes overlap), and can answer
chosen PUTs with an error status instead of passing them to moto (a bucket that stops accepting writes,
a transient 503)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# (bucket/key path, number of this PUT, 1-based) -> an HTTP status to answer instead, or None to pass it on
FailRule = Callable[[str, int], int | None]

_ERROR_BODY = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>'
               '<Resource>{path}</Resource><RequestId>nwbzarr-test</RequestId></Error>')
_ERRORS = {403: ("AccessDenied", "Access Denied"), 503: ("SlowDown", "Please reduce your request rate."),
           500: ("InternalError", "We encountered an internal error. Please try again.")}


@dataclass
class PutStats:
    """What the middleware saw of PUT requests: how many, how many answered with an error, the most in
    flight at once, and the paths failed."""

    puts: int = 0
    failed: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    failed_paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset(self) -> None:
        with self.lock:
            self.puts = self.failed = self.peak_in_flight = 0
            self.failed_paths.clear()


class CountingS3:
    """The middleware: ``delay`` seconds added to every PUT (held while counted in flight); ``fail`` a
    ``FailRule`` (None: every PUT reaches moto)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.stats = PutStats()
        self.delay = 0.0
        self.fail: FailRule | None = None

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if environ.get("REQUEST_METHOD") != "PUT":
            return self.app(environ, start_response)
        stats, path = self.stats, environ.get("PATH_INFO", "").lstrip("/")
        with stats.lock:
            stats.puts += 1
            number = stats.puts
            stats.in_flight += 1
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            status = self.fail(path, number) if self.fail is not None else None
            if status is None:
                return list(self.app(environ, start_response))
            with stats.lock:
                stats.failed += 1
                stats.failed_paths.append(path)
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))  # the client sent a body
            code, message = _ERRORS.get(status, ("Error", "error"))
            body = _ERROR_BODY.format(code=code, message=message, path=path).encode()
            start_response(f"{status} {message}", [("Content-Type", "application/xml"),
                                                   ("Content-Length", str(len(body)))])
            return [body]
        finally:
            with stats.lock:
                stats.in_flight -= 1


@contextlib.contextmanager
def counting_s3_server() -> Iterator[tuple[str, CountingS3]]:
    """(endpoint URL, middleware) of a moto S3 server on a free loopback port (moto's backends are shared
    with any other moto server in this process: use bucket names of your own)."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any) -> None:
            pass

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    middleware = CountingS3(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, middleware, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", middleware
    finally:
        server.shutdown()
        thread.join()
