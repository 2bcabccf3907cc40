"""The local path a store URL names (``sqlite:``, ``lmdb:``, ``dbm:``, ``h5container:``, ``zipcontainer:``,
``icechunk:``, ``file:``), read as file URLs are (RFC 8089), the same for every scheme:

- ``sqlite:///data/x.sqldb`` is the absolute path ``/data/x.sqldb`` (three slashes: empty host, then the path);
  ``sqlite:////data/x.sqldb`` (SQLAlchemy's absolute spelling) and ``sqlite://localhost/data/x.sqldb`` name it too;
- ``sqlite://x.sqldb`` and ``sqlite://data/x.sqldb`` are relative to the working directory (as fsspec reads
  ``file://data/x``), and ``~`` starts a path in the home directory (``sqlite://~/x.sqldb``);
- ``sqlite:///C:/data/x.sqldb`` is ``C:/data/x.sqldb`` on Windows; percent escapes are decoded (``%20``).

Anything else (no ``//``, no path, a ``host:port``, a query where the store takes none) is refused with a
message that shows the right spelling.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote

__all__ = ["LOCAL_URL_SCHEMES", "local_url_path", "malformed_local_url"]

# URL schemes whose URL names a local file or folder
LOCAL_URL_SCHEMES = ("sqlite", "lmdb", "dbm", "h5container", "zipcontainer", "icechunk", "icechunk+file", "file")
_DRIVE = re.compile(r"[A-Za-z]:")


def _spelling(scheme: str) -> str:
    return f"use {scheme}:///absolute/path or {scheme}://relative/path"


def malformed_local_url(spec: str) -> str | None:
    """Why ``spec`` is a malformed URL of a local store (``sqlite:/x``, ``lmdb:x``), or None: a local path
    never starts with one of these schemes and a colon (a Windows drive is one letter)."""
    scheme, colon, rest = spec.partition(":")
    if colon and scheme.lower() in LOCAL_URL_SCHEMES and not rest.startswith("//"):
        return f"malformed URL {spec!r}: {_spelling(scheme.lower())}"
    return None


def local_url_path(spec: str, allow_query: bool = False) -> str:
    """The path ``scheme://...`` names (rules in this module's docstring); ``allow_query``: drop a query
    (the store reads its options elsewhere) instead of refusing it."""
    scheme, sep, rest = spec.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ValueError(malformed_local_url(spec) or f"{spec!r} is not a URL: {_spelling(scheme)}")
    if re.search(r"[?#]", rest):
        if not allow_query:
            raise ValueError(f"{spec!r}: a {scheme}:// URL takes no query or fragment (options go in "
                             f"storage_options; write '?' in a file name as %3F)")
        rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    if rest.startswith("localhost/"):
        rest = rest[len("localhost"):]
    path = _absolute(rest) if rest.startswith("/") else _relative(spec, scheme, rest)
    path = unquote(path)
    if not path.strip("/"):
        raise ValueError(f"{spec!r} names no file or folder: {_spelling(scheme)}")
    return os.path.expanduser(path)


def _absolute(rest: str) -> str:
    """'/abs', '//abs' -> '/abs'; '/C:/dir' -> 'C:/dir' (a Windows drive, RFC 8089 appendix E)."""
    path = "/" + rest.lstrip("/")
    head = path[1:].split("/", 1)[0]
    return path[1:] if _DRIVE.fullmatch(head) else path


def _relative(spec: str, scheme: str, rest: str) -> str:
    head = rest.split("/", 1)[0]
    if ":" in head and not _DRIVE.fullmatch(head):
        raise ValueError(f"{spec!r}: a {scheme}:// URL names a local path, not a host ({head!r}); "
                         f"{_spelling(scheme)}")
    return rest
