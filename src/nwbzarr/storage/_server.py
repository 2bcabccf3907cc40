"""Timeouts of the stores on database servers (Redis, MongoDB): one error type that names the server
and says how to allow it more time, raised instead of the client library's own errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..errors import ServerUnavailableError

__all__ = ["DEFAULT_TIMEOUT", "ServerUnavailableError", "check_timeout", "guard_backend_calls", "safe_address"]

DEFAULT_TIMEOUT = 5.0  # seconds: connecting, and waiting for one answer


def check_timeout(timeout: Any) -> float:
    """A positive number of seconds, or a ValueError naming the bad value."""
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise ValueError(f"timeout must be a number of seconds, got {timeout!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"timeout must be a positive, finite number of seconds, got {timeout!r}")
    return value


def safe_address(address: str) -> str:
    """A server address fit for an error message: any user name and password in a URL left out."""
    if "://" not in address:
        return address
    parts = urlsplit(address)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}"


def guard_backend_calls(cls: type) -> type:
    """Class decorator: every backend primitive (``_b_*`` but ``_b_close``) turns the errors listed by
    ``cls._server_errors()`` into a :class:`ServerUnavailableError` built by ``self._server_error(exc)``."""
    names = {n for klass in cls.__mro__ for n in vars(klass) if n.startswith("_b_") and n != "_b_close"}
    for name in names:
        setattr(cls, name, _guarded(getattr(cls, name)))
    return cls


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except self._server_errors() as exc:
            raise self._server_error(exc) from exc

    return call
