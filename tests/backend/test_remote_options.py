"""``storage_options`` reach every open of a remote store (a real moto S3 server on loopback): ``can_read``,
the cached namespaces of an extension, the legacy reader, ``read_nwb`` and links to other S3 stores; with
either remote client (fsspec, obstore: the ``remote_client`` key, nwbzarr.storage.remote_clients)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
from hdmf.build import BuildManager
from pynwb import get_type_map
from pynwb.spec import NWBAttributeSpec, NWBGroupSpec, NWBNamespaceBuilder
from pynwb.testing.mock.file import mock_NWBFile
from zarr.storage import FsspecStore, ObjectStore

from _link_stores import TARGET_VALUES, read_place, write_linking_store, write_target
from nwbzarr import NWBZarrIO, ZarrIO, read_nwb
from nwbzarr.backend.location import options_for_target
from nwbzarr.compat import NWBZarrV2IO
from nwbzarr.storage.remote_clients import CLIENT_ENV
from nwbzarr.storage.url import open_store

NS = "ndx-remotetest"
_buckets = itertools.count()


@pytest.fixture()
def bucket(s3_server) -> str:
    """A new, empty bucket on the moto server."""
    import boto3

    name = f"remote-opts-{next(_buckets)}"
    boto3.client("s3", endpoint_url=s3_server["endpoint_url"]).create_bucket(Bucket=name)
    return name


@pytest.fixture()
def opts(s3_server) -> dict:
    """Options that write (fsspec) to the moto server."""
    return {"endpoint_url": s3_server["endpoint_url"]}


@pytest.fixture(params=["fsspec", "obstore"])
def read_opts(request, opts) -> dict:
    """Options that read from the moto server with each remote client."""
    return {**opts, "remote_client": request.param}


def _store_type(options: dict) -> type:
    return ObjectStore if options.get("remote_client") == "obstore" else FsspecStore


@pytest.fixture(scope="module")
def extension_map(tmp_path_factory) -> tuple:
    """A type map with a small extension (pynwb's global map is left alone, so readers know it only from
    the namespace cached in the file) and the extension's class."""
    folder = tmp_path_factory.mktemp("ndx")
    ns = NWBNamespaceBuilder("remote test extension", NS, version="0.2.0", author="nwbzarr",
                             contact="dev@example.org")
    ns.include_type("NWBDataInterface", namespace="core")
    ns.add_spec(f"{NS}.extensions.yaml", NWBGroupSpec(
        neurodata_type_def="RemoteProbe", neurodata_type_inc="NWBDataInterface", doc="a test type",
        attributes=[NWBAttributeSpec("gain", "a gain", "float")]))
    ns.export(f"{NS}.namespace.yaml", outdir=str(folder))
    type_map = get_type_map()
    type_map.load_namespaces(str(folder / f"{NS}.namespace.yaml"))
    return type_map, type_map.get_dt_container_cls("RemoteProbe", NS)


def _write_extension_file(url: str, opts: dict, extension_map: tuple, zarr_format: int = 3) -> None:
    type_map, probe_cls = extension_map
    nwb = mock_NWBFile()
    nwb.create_processing_module("ext", "extension data").add(probe_cls(name="probe", gain=2.5))
    with NWBZarrIO(url, "w", manager=BuildManager(type_map), storage_options=opts, zarr_format=zarr_format) as io:
        io.write(nwb)


def _probe(nwbfile) -> tuple[str, float]:
    probe = nwbfile.processing["ext"]["probe"]
    return type(probe).__name__, probe.gain


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_extension_file_opens_from_a_custom_endpoint(bucket, opts, read_opts, extension_map, zarr_format):
    """The cached namespace is loaded through the same endpoint, so the extension's type comes back, and
    opening takes no detour to AWS (it took 7-10 s with credentials set)."""
    url = f"s3://{bucket}/ext.nwb.zarr"
    _write_extension_file(url, opts, extension_map, zarr_format)
    assert NS not in get_type_map().namespace_catalog.namespaces
    assert ZarrIO.can_read(url, storage_options=read_opts)
    start = time.monotonic()
    with NWBZarrIO(url, "r", storage_options=read_opts) as io:
        assert time.monotonic() - start < 5
        assert isinstance(io.store, _store_type(read_opts))
        assert _probe(io.read()) == ("RemoteProbe", 2.5)
    assert NWBZarrIO.get_namespaces(url, storage_options=read_opts)[NS] == "0.2.0"
    assert _probe(read_nwb(url, storage_options=read_opts)) == ("RemoteProbe", 2.5)
    if zarr_format == 2:
        with NWBZarrV2IO(url, "r", storage_options=read_opts) as io:
            assert _probe(io.read()) == ("RemoteProbe", 2.5)


@pytest.fixture()
def recorder(s3_server, tmp_path, monkeypatch):
    """``record()`` -> a context recording the requests the moto server answers (moto's recorder, whose file,
    named when moto was imported and relative to the working directory, is kept in ``tmp_path``); the block's
    requests as ``(method, path)`` pairs are in the list it yields."""
    import contextlib
    import json

    import requests

    monkeypatch.chdir(tmp_path)
    api = f"{s3_server['endpoint_url']}/moto-api/recorder"

    @contextlib.contextmanager
    def record():
        seen: list[tuple[str, str]] = []
        requests.post(f"{api}/reset-recording").raise_for_status()
        requests.post(f"{api}/start-recording").raise_for_status()
        try:
            yield seen
        finally:
            requests.post(f"{api}/stop-recording").raise_for_status()
            text = requests.get(f"{api}/download-recording").text
            for line in text.splitlines():
                if line.strip():
                    entry = json.loads(line)
                    seen.append((entry["method"], entry["url"].split("/", 3)[-1]))

    return record


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_s3_open_and_read_take_a_handful_of_requests(bucket, opts, read_opts, extension_map, recorder,
                                                     zarr_format):
    """Open + ``read()`` of a file with an extension: the root document (legacy: after a v3 probe, the
    consolidated one), the extension's cached specs, the scalars; each object once, no HEAD before a GET
    (before: 64 requests for a v3 file without an extension, 70 for a legacy one)."""
    url = f"s3://{bucket}/count.nwb.zarr"
    _write_extension_file(url, opts, extension_map, zarr_format)
    with recorder() as seen, NWBZarrIO(url, "r", storage_options=read_opts) as io:
        assert _probe(io.read()) == ("RemoteProbe", 2.5)
    assert len(seen) <= {3: 10, 2: 11}[zarr_format], seen  # 8 and 9 today
    assert {method for method, _ in seen} == {"GET"}
    assert len(set(seen)) == len(seen)
    assert sum("/specifications/" in path for _, path in seen) == 2  # the extension's namespace and types


def test_can_read_is_false_for_a_missing_store_on_the_endpoint(bucket, read_opts):
    assert not ZarrIO.can_read(f"s3://{bucket}/missing.zarr", storage_options=read_opts)


def test_read_nwb_reads_s3_anonymously_by_default(bucket, opts, extension_map, make_public, no_aws_credentials):
    """Without storage_options, ``read_nwb`` reads ``s3://`` unsigned (hdmf-zarr's ``anon=True``): it works with
    no credentials at all, where a signed read fails for want of them."""
    url = f"s3://{bucket}/anon.nwb.zarr"
    _write_extension_file(url, {**opts, "key": "testing", "secret": "testing"}, extension_map)  # env has none now
    make_public(bucket)
    nwbfile = read_nwb(url)
    assert _probe(nwbfile) == ("RemoteProbe", 2.5)
    store = nwbfile.read_io.store
    unsigned = store.fs.anon if hasattr(store, "fs") else store.store.config["skip_signature"]  # obstore: "true"
    assert unsigned in (True, "true")
    with pytest.raises(Exception, match="(?i)credential"):
        NWBZarrIO(url, "r", storage_options={"anon": False, "skip_instance_cache": True}).read()


@pytest.mark.parametrize("chosen_by", ["environment", "options"])
def test_read_nwb_reads_s3_anonymously_with_obstore(bucket, opts, extension_map, make_public, no_aws_credentials,
                                                    monkeypatch, chosen_by):
    """obstore chosen by ``$NWBZARR_REMOTE_CLIENT`` or by options naming only the client: still unsigned by
    default (``skip_signature``); a signed read finds no credentials. (The moto endpoint comes from
    ``AWS_ENDPOINT_URL``, which object_store reads too; ``AWS_ALLOW_HTTP`` lets it use plain HTTP.)"""
    url = f"s3://{bucket}/anon-obstore.nwb.zarr"
    _write_extension_file(url, {**opts, "key": "testing", "secret": "testing"}, extension_map)
    make_public(bucket)
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    if chosen_by == "environment":
        monkeypatch.setenv(CLIENT_ENV, "obstore")
        nwbfile = read_nwb(url)
    else:
        nwbfile = read_nwb(url, storage_options={"remote_client": "obstore"})
    assert _probe(nwbfile) == ("RemoteProbe", 2.5)
    assert isinstance(nwbfile.read_io.store, ObjectStore)
    assert nwbfile.read_io.store.store.config["skip_signature"] in (True, "true")
    # with no credentials anywhere, object_store's last resort is the instance metadata service
    with pytest.raises(Exception, match=r"(?i)credential|169\.254\.169\.254"):
        NWBZarrIO(url, "r", storage_options={"remote_client": "obstore"}).read()


def _upload(local: Path, url: str, opts: dict) -> None:
    import fsspec

    fs = fsspec.filesystem("s3", **opts)
    fs.put(str(local), url, recursive=True)


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_link_to_another_s3_store_opens_with_the_same_options(bucket, opts, read_opts, tmp_path, zarr_format):
    """A link from one S3 store to a sibling in the same bucket (default policy), and to a store in another
    bucket of the same endpoint (``external_links="any"``), opens the target through the same endpoint."""
    write_target(tmp_path / "target.zarr", zarr_format)
    write_linking_store(tmp_path / "linking.zarr", tmp_path / "target.zarr", "link", "../target.zarr", zarr_format)
    for name in ("target.zarr", "linking.zarr"):
        _upload(tmp_path / name, f"s3://{bucket}/{name}", opts)
    with ZarrIO(f"s3://{bucket}/linking.zarr", "r", storage_options=read_opts) as io:
        np.testing.assert_array_equal(read_place(io, "link"), TARGET_VALUES)
        assert all(isinstance(other.store, _store_type(read_opts)) for other in io._external.values())
    store = open_store(f"s3://{bucket}/linking.zarr", "r", **read_opts)
    assert isinstance(store, _store_type(read_opts))
    with ZarrIO(store, "r") as io:  # a store given as path: its client's options go on to the link
        np.testing.assert_array_equal(read_place(io, "link"), TARGET_VALUES)
        assert [type(other.store) for other in io._external.values()] == [_store_type(read_opts)]

    import boto3

    other = f"{bucket}-other"
    boto3.client("s3", endpoint_url=opts["endpoint_url"]).create_bucket(Bucket=other)
    _upload(tmp_path / "target.zarr", f"s3://{other}/target.zarr", opts)
    write_linking_store(tmp_path / "cross.zarr", tmp_path / "target.zarr", "link", f"s3://{other}/target.zarr",
                        zarr_format)
    _upload(tmp_path / "cross.zarr", f"s3://{bucket}/cross.zarr", opts)
    with ZarrIO(f"s3://{bucket}/cross.zarr", "r", storage_options=read_opts, external_links="any") as io:
        np.testing.assert_array_equal(read_place(io, "link"), TARGET_VALUES)


@pytest.mark.parametrize(("location", "target", "passed"), [
    ("s3://a/x.zarr", "s3://a/y.zarr", True),
    ("s3://a/x.zarr", "s3://b/y.zarr", True),
    ("s3://a/x.zarr", "https://h/y.zarr", False),
    ("simplecache::s3://a/x.zarr", "s3://a/y.zarr", False),
    ("s3://a/x.zarr", "/local/y.zarr", False),
    ("/local/x.zarr", "/local/y.zarr", False),
])
def test_options_follow_links_within_one_protocol(location, target, passed):
    """One client's options (endpoint, credentials) are never handed to another protocol's client."""
    options = {"endpoint_url": "http://127.0.0.1:1"}
    assert options_for_target(location, options, target) == (options if passed else None)


def test_readme_remote_example_parses():
    """The README's remote example (not run: it reads a public DANDI asset) is valid Python using read_nwb and
    storage_options."""
    import ast
    import re

    readme = Path(__file__).resolve().parents[2] / "README.md"
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme.read_text(), re.S) if "dandiarchive" in b]
    assert len(blocks) == 1
    called = {node.func.id for node in ast.walk(ast.parse(blocks[0]))
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert {"read_nwb", "NWBZarrIO"} <= called and "storage_options=" in blocks[0]
