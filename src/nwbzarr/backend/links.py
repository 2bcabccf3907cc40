"""Which links and references to *other* stores a ``ZarrIO`` follows (``external_links=``).

A link or object reference whose ``source`` names another store makes nwbzarr open that store. A store
from an untrusted place could otherwise make a plain ``read()`` fetch URLs or read other stores on the
disk, so every such target is checked here, *before* anything is opened, stat-ed or fetched:

- ``"none"``: no other store is opened (links and references inside the store always work).
- ``"relative"`` (default): a local store follows targets written as relative paths that resolve
  inside the directory holding the store (a sibling such as ``"../sample.nwb.zarr"``, or deeper; symlinks
  are resolved first); a remote store (URL) follows targets on the same host (same scheme and host;
  for a URL without a host, such as ``sqlite:///x.sqlite``, inside the directory holding the store).
- ``"local"``: additionally any path on this computer's file systems (absolute paths included), no URL
  other than the reading store's own host.
- ``"any"``: everything, URLs on any host included (hdmf-zarr's behaviour).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from ..errors import ExternalLinkError

POLICIES = ("none", "relative", "local", "any")
DEFAULT_POLICY = "relative"

_WHAT = {
    "none": "no other store",
    "relative": "relative paths inside the directory that holds the store (remote stores: the same host)",
    "local": "paths on this computer (remote stores: also the same host)",
    "any": "any store",
}


def check_policy(policy: str) -> str:
    """The policy name, or a ValueError listing the valid ones."""
    if policy not in POLICIES:
        raise ValueError(f"external_links must be one of {', '.join(map(repr, POLICIES))}, not {policy!r}")
    return policy


def allows(policy: str, location: str | None, source: str, target: str) -> bool:
    """Whether ``policy`` lets a store at ``location`` open ``target`` (``source`` resolved); touches
    the file system only for a target already inside the allowed directory (to resolve symlinks)."""
    if policy == "any":
        return True
    if policy == "none":
        return False
    if _is_url(target):
        return location is not None and _is_url(location) and _same_host(location, target)
    if policy == "local":
        return True
    if location is None or _is_url(location) or _is_url(source) or os.path.isabs(source):
        return False
    return _inside_directory_of(location, target)


def check_target(policy: str, location: str | None, source: str, targets: list[str], where: str) -> list[str]:
    """The candidate ``targets`` the policy allows; ExternalLinkError naming the link when none is."""
    allowed = [t for t in targets if allows(policy, location, source, t)]
    if allowed:
        return allowed
    needed = next(p for p in POLICIES if allows(p, location, source, targets[0]))
    store = location if location is not None else "a store without a location"
    raise ExternalLinkError(
        f"{where} in {store!r} points to another store, {source!r} ({targets[0]}), which was not opened: "
        f"external_links={policy!r} follows {_WHAT[policy]}. If you trust this file, open it with "
        f"external_links={needed!r} (command line: --links {needed})"
    )


def check_hdf5_file(path: Any, policy: str, location: str | None = None) -> None:
    """The external links of an HDF5 file against the policy, before anything follows them (HDF5 itself
    follows every external link by file name); resolved from the file's directory, as HDF5 does.
    ``path``: a file name, or a file object with ``location`` its URL (an HDF5 file read remotely)."""
    if check_policy(policy) == "any":
        return
    import h5py

    found: list[tuple[str, str]] = []

    def collect(name: str, link: object) -> None:
        if isinstance(link, h5py.ExternalLink):
            found.append((name, link.filename))

    with h5py.File(path, "r") as fh:
        fh.visititems_links(collect)
    location = location or os.path.abspath(path)
    for name, filename in found:
        if _is_url(filename):
            target = filename
        elif _is_url(location):
            target = location.rsplit("/", 1)[0] + "/" + filename
        else:
            target = os.path.normpath(os.path.join(os.path.dirname(location), filename))
        check_target(policy, location, filename, [target], f"external link /{name}")


def _is_url(text: str) -> bool:
    return "://" in text


def _origin(url: str) -> tuple[tuple[str, ...], str]:
    """(protocol chain, host) of a URL, fsspec chains (``simplecache::s3://...``) included."""
    parts = url.split("::")
    schemes = tuple(p.split("://", 1)[0].lower() for p in parts)
    return schemes, urlsplit(parts[-1]).netloc.lower()


def _same_host(location: str, target: str) -> bool:
    (schemes, host), (t_schemes, t_host) = _origin(location), _origin(target)
    if schemes != t_schemes or host != t_host:
        return False
    if host:
        return True
    base = urlsplit(location.split("::")[-1]).path
    return _lexically_inside(os.path.dirname(base.rstrip("/")), urlsplit(target.split("::")[-1]).path)


def _inside_directory_of(location: str, target: str) -> bool:
    """``target`` lies inside the directory holding the store at ``location``, before and after symlinks."""
    parent = os.path.dirname(os.path.abspath(location).rstrip(os.sep))
    if not _lexically_inside(parent, os.path.abspath(target)):
        return False
    return _lexically_inside(os.path.realpath(parent), os.path.realpath(target))


def _lexically_inside(directory: str, path: str) -> bool:
    directory, path = os.path.normpath(directory), os.path.normpath(path)
    if not os.path.isabs(directory) or not os.path.isabs(path) or path == directory:
        return False
    return os.path.commonpath([directory, path]) == directory
