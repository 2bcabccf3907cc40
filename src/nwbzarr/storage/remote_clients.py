"""Which client reads and writes remote URLs: obstore (zarr's ``ObjectStore`` on the Rust ``object_store``
crate: pooled connections, its own retries; the default where it can) or fsspec (``FsspecStore``).

The choice is ``open_store(url, remote_client=...)``, or the reserved key ``"remote_client"`` of a
``storage_options`` dict (``NWBZarrIO(url, storage_options={"remote_client": "obstore", ...})``), which every
open of the file passes on (namespaces, external links, ``read_nwb``, the CLI's ``--storage-option``); without
either, the environment variable ``NWBZARR_REMOTE_CLIENT``, else obstore where it serves the URL and
understands the options (see ``obstore_serves``), else fsspec.

obstore takes its own configuration keys (``endpoint``, ``region``, ``skip_signature``, ``access_key_id``,
..., and ``client_options`` / ``retry_config``); the fsspec spellings nwbzarr's callers use (``anon``,
``endpoint_url``, ``key``, ``secret``, ``token``, ``client_kwargs``) are translated, so one options dict
works with both clients.
"""

from __future__ import annotations

import importlib.util
import os
from datetime import timedelta
from typing import Any

from zarr.abc.store import Store

from .remote import BACKOFF_SECONDS, HTTP_ATTEMPTS

REMOTE_CLIENTS = ("fsspec", "obstore")
CLIENT_OPTION = "remote_client"  # the reserved key of storage_options
CLIENT_ENV = "NWBZARR_REMOTE_CLIENT"
OBSTORE_SCHEMES = ("s3", "s3a", "gs", "az", "abfs", "abfss", "azure", "http", "https")
OBSTORE_MAX_BACKOFF = 1.6  # seconds: the longest wait of fsspec's HTTP retries (remote.py), the same here
OBSTORE_RETRY_TIMEOUT = 30.0  # seconds a request is retried at most
OBSTORE_BACKOFF_BASE = 4  # see retry_config

# fsspec/s3fs option -> obstore S3 configuration key
_S3_KEYS = {"endpoint_url": "endpoint", "key": "access_key_id", "secret": "secret_access_key",
            "token": "session_token"}
_CLIENT_KWARGS = {"endpoint_url": "endpoint", "region_name": "region"}
# options obstore takes as fsspec would (translated above) or as its own configuration
_OBSTORE_UNDERSTOOD = frozenset({"anon", "client_kwargs", *_S3_KEYS, "endpoint", "region", "skip_signature",
                                 "access_key_id", "secret_access_key", "session_token", "client_options",
                                 "retry_config"})


def choose_remote_client(given: str | None = None, scheme: str = "", options: dict[str, Any] | None = None,
                         read_only: bool = False) -> str:
    """The remote client to use: ``given``, else ``$NWBZARR_REMOTE_CLIENT``, else for reads obstore where it
    serves the URL's scheme, is installed and understands every option (as fast as fsspec or faster on every
    figure of the remote benchmark but one), else fsspec. Writes stay on fsspec by default: parallel writes
    through obstore are not verified yet. An unknown name is refused, naming where it came from."""
    name, where = (given, f"{CLIENT_OPTION}=") if given is not None else (os.environ.get(CLIENT_ENV), CLIENT_ENV)
    if name is None or name == "":
        return "obstore" if read_only and obstore_serves(scheme, options or {}) else "fsspec"
    if not isinstance(name, str) or name.lower() not in REMOTE_CLIENTS:
        raise ValueError(f"{where} {name!r} is not a remote client: use one of {', '.join(REMOTE_CLIENTS)}")
    return name.lower()


def obstore_serves(scheme: str, options: dict[str, Any]) -> bool:
    """Whether obstore can take this open as fsspec would: an s3/gs/az/http(s) URL, obstore installed, and
    only options it understands (an s3fs-only option such as ``profile`` or ``requester_pays`` keeps fsspec)."""
    if scheme not in OBSTORE_SCHEMES or importlib.util.find_spec("obstore") is None:
        return False
    client_kwargs = options.get("client_kwargs") or {}
    if not (set(options) <= _OBSTORE_UNDERSTOOD and set(client_kwargs) <= set(_CLIENT_KWARGS)):
        return False
    return not scheme.startswith("s3") or _s3_credentials_are_plain(options)


def _s3_credentials_are_plain(options: dict[str, Any]) -> bool:
    """An unsigned read, or keys given in the options or the environment: what obstore signs with as botocore
    does. Profiles, SSO and instance roles stay with fsspec (botocore's whole credential chain, and its
    "Unable to locate credentials" when there are none, where obstore would ask the instance metadata address)."""
    if options.get("anon") or options.get("skip_signature"):
        return True
    given = any(k in options for k in ("key", "access_key_id"))
    in_env = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(os.environ) and "AWS_PROFILE" not in os.environ
    return given or in_env


def split_client(options: dict[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
    """(the ``remote_client`` an options dict names or None, the other options)."""
    rest = dict(options or {})
    return rest.pop(CLIENT_OPTION, None), rest


def fsspec_read_options(scheme: str, options: dict[str, Any]) -> dict[str, Any]:
    """Options of a read-only fsspec store: for s3, ``max_concurrency=1`` unless given, since s3fs otherwise
    asks every object's size (a HEAD request) before reading it, to split objects over 50 MB into parallel
    range requests; Zarr chunks are read concurrently by nwbzarr already, so that doubled the requests."""
    if scheme in ("s3", "s3a"):
        return {"max_concurrency": 1, **options}
    return options


def obstore_store(url: str, read_only: bool, options: dict[str, Any] | None) -> Store:
    """zarr's ``ObjectStore`` on ``obstore.store.from_url(url, ...)`` for s3/gs/az/http(s) URLs, with nwbzarr's
    retry policy unless ``options`` bring a ``retry_config``, and plain-HTTP endpoints allowed."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in OBSTORE_SCHEMES:
        raise ValueError(f"remote_client='obstore' opens {', '.join(s + '://' for s in OBSTORE_SCHEMES)} URLs, "
                         f"not {url!r} (use remote_client='fsspec' for other fsspec URLs)")
    try:
        from obstore.store import from_url
        from zarr.storage import ObjectStore
    except ImportError as err:
        raise ImportError("remote_client='obstore' needs the obstore package: pip install 'nwbzarr[remote]'") from err
    kwargs = obstore_options(scheme, options or {})
    return ObjectStore(from_url(url, **kwargs), read_only=read_only)


def obstore_options(scheme: str, options: dict[str, Any]) -> dict[str, Any]:
    """``from_url`` keyword arguments for ``options`` (fsspec spellings translated, see the module doc)."""
    out = dict(options)
    client_kwargs = out.pop("client_kwargs", None) or {}
    for old, new in _CLIENT_KWARGS.items():
        if old in client_kwargs:
            out.setdefault(new, client_kwargs[old])
    if scheme.startswith("s3"):
        for old, new in _S3_KEYS.items():
            if old in out:
                out.setdefault(new, out.pop(old))
    if "anon" in out:
        out.setdefault("skip_signature", bool(out.pop("anon")))
    client_options = dict(out.pop("client_options", None) or {})
    endpoint = str(out.get("endpoint") or (os.environ.get("AWS_ENDPOINT_URL", "") if scheme.startswith("s3") else ""))
    if scheme == "http" or endpoint.startswith("http://"):  # an endpoint from the environment too, as fsspec
        client_options.setdefault("allow_http", True)
    if client_options:
        out["client_options"] = client_options
    out.setdefault("retry_config", retry_config())
    return out


def retry_config() -> dict[str, Any]:
    """obstore's retries, as many as fsspec's HTTP ones (storage/remote.py) and about as long in all: 5xx
    answers, refused and dropped connections; a permanent error (403, 404 on a document) is raised at once.
    object_store draws each wait between the first one and ``base`` times the last (jitter), so its base is
    twice fsspec's doubling to wait about as long on average."""
    return {"max_retries": HTTP_ATTEMPTS - 1, "retry_timeout": timedelta(seconds=OBSTORE_RETRY_TIMEOUT),
            "backoff": {"init_backoff": timedelta(seconds=BACKOFF_SECONDS),
                        "max_backoff": timedelta(seconds=OBSTORE_MAX_BACKOFF), "base": OBSTORE_BACKOFF_BASE}}


def obstore_url(store: Any) -> str | None:
    """The URL an obstore store reads (``s3://bucket/prefix``, ``https://host/path``), or None."""
    url = getattr(store, "url", None)
    if isinstance(url, str):
        return url.rstrip("/")
    config = getattr(store, "config", None) or {}
    prefix = str(getattr(store, "prefix", None) or "").strip("/")
    for key, scheme in (("bucket", "s3"), ("bucket_name", "gs"), ("container_name", "az")):
        if key in config:
            scheme = "gs" if type(store).__name__ == "GCSStore" else scheme
            return f"{scheme}://{config[key]}" + (f"/{prefix}" if prefix else "")
    return None


def obstore_store_options(store: Any) -> dict[str, Any]:
    """The options that open another store of the same service as ``store`` (an obstore store) does: its
    configuration without the bucket, its client and retry options, and ``remote_client='obstore'``."""
    config = {k: v for k, v in (getattr(store, "config", None) or {}).items()
              if k not in ("bucket", "bucket_name", "container_name")}
    out: dict[str, Any] = {CLIENT_OPTION: "obstore", **config}
    for attr in ("client_options", "retry_config"):
        value = getattr(store, attr, None)
        if value:
            out[attr] = dict(value)
    return out
