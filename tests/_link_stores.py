"""Stores whose links and references leave the store, and a loopback HTTP server that counts requests."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from hdmf.build import DatasetBuilder, GroupBuilder, LinkBuilder

from nwbzarr import ZarrIO, ZarrReference

TARGET_VALUES = np.arange(5, dtype="int64")
#: (node read eagerly by read_builder?, description) of each place a hostile source can stand
PLACES = {
    "link": "link /acquisition/ext",
    "attribute": "/meta@aref",
    "scalar": "/sref",
    "dataset": "/refs",
    "compound": "/comp",
    "region": "/region",
}
EAGER = {"link", "attribute"}


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory and counts every request (any method)."""

    def log_message(self, *args: Any) -> None:
        pass

    def handle_one_request(self) -> None:
        super().handle_one_request()
        if self.requestline:
            self.server.requests.append(self.requestline)


@contextmanager
def counting_server(directory: Path) -> Iterator[tuple[str, list[str]]]:
    """(base URL, list of request lines) of an HTTP server on 127.0.0.1 serving ``directory``."""
    handler = functools.partial(CountingHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.requests
    finally:
        server.shutdown()
        server.server_close()


def write_target(path: Path, zarr_format: int) -> Path:
    """A small store: group ``/g`` holding dataset ``/g/d`` (0..4)."""
    root = GroupBuilder("root")
    group = GroupBuilder("g", attributes={"x": 1})
    root.set_group(group)
    group.set_dataset(DatasetBuilder("d", data=TARGET_VALUES))
    with ZarrIO(path, "w", zarr_format=zarr_format) as io:
        io.write_builder(root)
    return path


def write_linking_store(path: Path, target: Path, place: str, source: str, zarr_format: int) -> Path:
    """A store whose link or reference at ``place`` (see PLACES) names ``source`` as its store."""
    root = GroupBuilder("root")
    if place == "link":
        other = GroupBuilder("root", source=str(target))
        other.set_group(GroupBuilder("g"))
        other["g"].set_dataset(DatasetBuilder("d", data=TARGET_VALUES))
        ext = GroupBuilder("acquisition")
        root.set_group(ext)
        ext.set_link(LinkBuilder(other["g"]["d"], name="ext", parent=ext))
    else:
        root.set_group(GroupBuilder("meta", attributes={"aref": _ref(source, place)} if place == "attribute" else {}))
        if place != "attribute":
            root.set_dataset(_reference_dataset(place, source))
    with ZarrIO(path, "w", zarr_format=zarr_format) as io:
        io.write_builder(root)
    if place == "link":
        replace_sources(path, {io.relative_source(str(target)): source})
    return path


def _ref(source: str, place: str) -> ZarrReference:
    return ZarrReference(source, "/g/d", region=[[1, 3]] if place == "region" else None)


def _reference_dataset(place: str, source: str) -> DatasetBuilder:
    ref = _ref(source, place)
    if place == "scalar":
        return DatasetBuilder("sref", data=ref, dtype="object")
    if place == "dataset":
        return DatasetBuilder("refs", data=[ref, ref], dtype="object")
    if place == "region":
        return DatasetBuilder("region", data=[ref], dtype="region")
    columns = [{"name": "i", "dtype": "int32"}, {"name": "r", "dtype": "object"}]
    return DatasetBuilder("comp", data=[(7, ref)], dtype=columns)


def replace_sources(store: Path, sources: dict[str, str]) -> None:
    """Rewrite the ``source`` of links and attribute references in every JSON document of a directory store
    (node documents and consolidated metadata alike)."""
    for doc_path in store.rglob("*"):
        if doc_path.name not in ("zarr.json", ".zattrs", ".zmetadata"):
            continue
        doc = json.loads(doc_path.read_text())
        doc_path.write_text(json.dumps(_replaced(doc, sources)))


def _replaced(value: Any, sources: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _replaced(v, sources) for k, v in value.items()}
        if isinstance(out.get("source"), str) and "path" in out and out["source"] in sources:
            out["source"] = sources[out["source"]]
        return out
    if isinstance(value, list):
        return [_replaced(v, sources) for v in value]
    return value


def read_place(io: ZarrIO, place: str) -> Any:
    """Read what ``place`` points to, down to the values of the target dataset."""
    root = io.read_builder()
    if place == "link":
        return root["acquisition"].links["ext"].builder.data[:]
    if place == "attribute":
        return root["meta"].attributes["aref"].data[:]
    if place == "scalar":
        data = root["sref"].data
        target = data["builder"] if isinstance(data, dict) else data[0]
        return target.data[:]
    name = {"dataset": "refs", "compound": "comp", "region": "region"}[place]
    first = root[name].data[0]
    return (first[1] if place == "compound" else first).data[:]
