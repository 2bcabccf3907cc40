"""``--storage-option KEY=VALUE`` on the commands that open a path, against a real moto S3 server on loopback:
a remote store reads exactly as its local copy does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pynwb.testing.mock.ecephys import mock_ElectricalSeries
from pynwb.testing.mock.file import mock_NWBFile
from typer.testing import CliRunner

from nwbzarr import NWBZarrIO
from nwbzarr.cli import app, parse_storage_options

runner = CliRunner()


@pytest.fixture(scope="module")
def remote(s3_server, tmp_path_factory) -> dict:
    """A local NWB Zarr store and its copy in a moto bucket: the local path, the URL and the options."""
    import boto3
    import fsspec

    local = tmp_path_factory.mktemp("cli-remote") / "x.nwb.zarr"
    nwb = mock_NWBFile()
    mock_ElectricalSeries(nwbfile=nwb)  # added to acquisition, with its electrodes table
    with NWBZarrIO(local, "w") as io:
        io.write(nwb)
    endpoint = s3_server["endpoint_url"]
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="cli-remote")
    fsspec.filesystem("s3", endpoint_url=endpoint).put(str(local), "s3://cli-remote/x.nwb.zarr", recursive=True)
    flags = ["--storage-option", f"endpoint_url={endpoint}", "--storage-option", "anon=false"]
    return {"local": str(local), "url": "s3://cli-remote/x.nwb.zarr", "flags": flags, "endpoint": endpoint}


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["info", "specs"])
def test_remote_store_reads_as_its_local_copy(remote, command):
    code, remote_out = _run(command, remote["url"], *remote["flags"])
    assert code == 0, remote_out
    assert remote_out == _run(command, remote["local"])[1]


def test_graph_and_refs_of_a_remote_store(remote):
    code, out = _run("graph", remote["url"], *remote["flags"])
    assert code == 0, out
    remote_graph, local_graph = json.loads(out), json.loads(_run("graph", remote["local"])[1])
    assert len(remote_graph["nodes"]) == len(local_graph["nodes"]) > 3
    code, out = _run("refs", remote["url"], "/acquisition/ElectricalSeries", *remote["flags"])
    assert code == 0, out
    assert out == _run("refs", remote["local"], "/acquisition/ElectricalSeries")[1]


def test_verify_and_manifest_on_s3(remote, tmp_path):
    import fsspec

    code, out = _run("verify", remote["url"], *remote["flags"])
    assert code == 0, out
    fs = fsspec.filesystem("s3", endpoint_url=remote["endpoint"])
    chunk = next(p for p in fs.find("cli-remote/x.nwb.zarr") if "/ElectricalSeries/data/c/" in p)
    fs.rm(chunk)
    try:
        code, out = _run("verify", remote["url"], *remote["flags"])
        assert code == 1 and "missing" in out and "acquisition/ElectricalSeries/data" in out, out
        code, out = _run("manifest", remote["url"], *remote["flags"])
        assert code == 0, out
        assert _run("verify", remote["url"], *remote["flags"])[0] == 0
    finally:
        fs.put(str(Path(remote["local"]) / chunk.split("x.nwb.zarr/", 1)[1]), "s3://" + chunk)
        fs.put(str(Path(remote["local"]) / "nwbzarr_manifest.json"), "s3://cli-remote/x.nwb.zarr/")


def test_migrate_reads_a_remote_source(remote, tmp_path):
    target = tmp_path / "v2.nwb.zarr"
    code, out = _run("migrate", remote["url"], str(target), "--to", "v2", *remote["flags"])
    assert code == 0, out
    with NWBZarrIO(target, "r") as io:
        assert io.read().acquisition["ElectricalSeries"].data.shape[0] > 0


def test_truncate_reads_a_remote_source(remote, tmp_path):
    code, out = _run("truncate", remote["url"], str(tmp_path / "small.nwb.zarr"), "-n", "3", *remote["flags"])
    assert code == 0, out
    with NWBZarrIO(tmp_path / "small.nwb.zarr", "r") as io:
        assert io.read().acquisition["ElectricalSeries"].data.shape[0] == 3


def test_s3_reads_are_anonymous_by_default(remote, make_public, no_aws_credentials):
    """With no --storage-option an s3:// store is read unsigned (anon=true), which needs no credentials; asking
    for signed reads (anon=false) fails for want of them."""
    make_public("cli-remote")
    code, out = _run("info", remote["url"])
    assert code == 0, out
    assert out == _run("info", remote["local"])[1]
    signed = runner.invoke(app, ["info", remote["url"], "--storage-option", "anon=false",
                                 "--storage-option", "skip_instance_cache=true"])
    assert signed.exit_code != 0 and "credentials" in str(signed.exception)


def test_obstore_client_reads_as_fsspec_does(remote, make_public, no_aws_credentials, monkeypatch):
    """``--storage-option remote_client=obstore``: the same output as the local copy, with the endpoint and
    signing options given (fsspec spellings), and unsigned by default when only the client is chosen."""
    flags = ["--storage-option", "remote_client=obstore"]
    make_public("cli-remote")
    signed = [*flags, *remote["flags"], "--storage-option", "key=testing", "--storage-option", "secret=testing"]
    code, out = _run("info", remote["url"], *signed)
    assert code == 0, out
    assert out == _run("info", remote["local"])[1]
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")  # the endpoint comes from AWS_ENDPOINT_URL here
    code, out = _run("info", remote["url"], *flags)
    assert code == 0, out
    assert out == _run("info", remote["local"])[1]


def test_malformed_storage_option_is_refused():
    code, out = _run("info", "s3://bucket/x.zarr", "--storage-option", "anon")
    assert code == 2 and "KEY=VALUE" in out


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                           max_leaves=6)


@given(key=st.text(alphabet=st.characters(blacklist_characters="=", blacklist_categories=("Z", "C")), min_size=1),
       value=json_values)
def test_values_parse_as_json_else_text(key, value):
    assert parse_storage_options([f"{key}={json.dumps(value)}"]) == {key: value}
    text = "http://127.0.0.1:5555/x=y"
    assert parse_storage_options([f"{key}={text}"]) == {key: text}


# --- writing to S3: convert, truncate, migrate ----------------------------------------------------
def _local_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _s3_bytes(endpoint: str, url: str) -> dict[str, bytes]:
    import fsspec

    fs = fsspec.filesystem("s3", endpoint_url=endpoint, skip_instance_cache=True)
    prefix = url.removeprefix("s3://").rstrip("/") + "/"
    return {p.removeprefix(prefix): fs.cat_file(p) for p in fs.find(prefix)}


@pytest.fixture(scope="module")
def hdf5_source(remote, tmp_path_factory) -> dict:
    """An NWB HDF5 file (electrodes table, an ElectricalSeries, cached specs) locally and in the bucket."""
    import fsspec
    from pynwb import NWBHDF5IO

    path = tmp_path_factory.mktemp("cli-h5") / "x.nwb"
    nwb = mock_NWBFile()
    mock_ElectricalSeries(nwbfile=nwb)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    url = "s3://cli-remote/h5/x.nwb"
    fsspec.filesystem("s3", endpoint_url=remote["endpoint"]).put(str(path), url)
    return {"local": path, "url": url}


def _converted_locally(source: Path, target: Path, *flags: str) -> Path:
    code, out = _run("convert", str(source), str(target), *flags)
    assert code == 0, out
    return target


@pytest.mark.parametrize("zarr_format", ["3", "2"])
def test_convert_writes_to_s3_what_it_writes_locally(remote, hdf5_source, tmp_path, zarr_format):
    """``nwbzarr convert x.nwb s3://...``: the same bytes as the local conversion, read back as the source."""
    from pynwb import NWBHDF5IO

    from _helpers import assert_containers_equal

    url = f"s3://cli-remote/converted-v{zarr_format}.nwb.zarr"
    code, out = _run("convert", str(hdf5_source["local"]), url, "--zarr-format", zarr_format, *remote["flags"])
    assert code == 0, out
    local = _converted_locally(hdf5_source["local"], tmp_path / "x.nwb.zarr", "--zarr-format", zarr_format)
    written = _s3_bytes(remote["endpoint"], url)
    assert len(written) > 20 and written == _local_bytes(local)
    with NWBHDF5IO(str(hdf5_source["local"]), "r") as h5, \
            NWBZarrIO(url, "r", storage_options={"endpoint_url": remote["endpoint"]}) as zio:
        assert_containers_equal(zio.read(), h5.read())


def test_convert_an_hdf5_file_on_s3(remote, hdf5_source, tmp_path):
    """An HDF5 source read from the bucket (through fsspec) converts as the local file does."""
    local = _converted_locally(hdf5_source["local"], tmp_path / "local.nwb.zarr")
    code, out = _run("convert", hdf5_source["url"], str(tmp_path / "from-s3.nwb.zarr"), *remote["flags"])
    assert code == 0, out
    assert _local_bytes(tmp_path / "from-s3.nwb.zarr") == _local_bytes(local)
    url = "s3://cli-remote/s3-to-s3.nwb.zarr"
    code, out = _run("convert", hdf5_source["url"], url, *remote["flags"])
    assert code == 0, out
    assert _s3_bytes(remote["endpoint"], url) == _local_bytes(local)


def test_parallel_copies_need_a_local_hdf5_file(remote, hdf5_source, tmp_path):
    refused = runner.invoke(app, ["convert", hdf5_source["url"], str(tmp_path / "x.nwb.zarr"), "--jobs", "2",
                                  *remote["flags"]])
    assert isinstance(refused.exception, ValueError) and "must be a local file" in str(refused.exception)
    assert not (tmp_path / "x.nwb.zarr").exists()


def test_convert_a_zarr_store_on_s3_to_hdf5(remote, tmp_path):
    from _h5_snapshot import snapshot

    code, out = _run("convert", remote["url"], str(tmp_path / "from-s3.nwb"), *remote["flags"])
    assert code == 0, out
    _converted_locally(Path(remote["local"]), tmp_path / "local.nwb")
    assert snapshot(tmp_path / "from-s3.nwb") == snapshot(tmp_path / "local.nwb")


def test_convert_refuses_an_existing_s3_target_unless_overwrite(remote, hdf5_source):
    url = "s3://cli-remote/exists.nwb.zarr"
    assert _run("convert", str(hdf5_source["local"]), url, *remote["flags"])[0] == 0
    refused = runner.invoke(app, ["convert", str(hdf5_source["local"]), url, *remote["flags"]])
    assert isinstance(refused.exception, FileExistsError) and url in str(refused.exception)
    code, out = _run("convert", str(hdf5_source["local"]), url, "--zarr-format", "2", "--overwrite",
                     *remote["flags"])
    assert code == 0, out
    keys = set(_s3_bytes(remote["endpoint"], url))
    assert ".zgroup" in keys and "zarr.json" not in keys  # replaced, nothing of the v3 store left


def test_convert_refuses_an_hdf5_target_on_s3(remote):
    refused = runner.invoke(app, ["convert", remote["url"], "s3://cli-remote/x.nwb", *remote["flags"]])
    assert isinstance(refused.exception, ValueError) and "local file" in str(refused.exception)


def test_truncate_and_migrate_write_to_s3(remote, tmp_path):
    options = {"endpoint_url": remote["endpoint"]}
    small = "s3://cli-remote/small.nwb.zarr"
    code, out = _run("truncate", remote["local"], small, "-n", "3", *remote["flags"])
    assert code == 0, out
    with NWBZarrIO(small, "r", storage_options=options) as io:
        assert io.read().acquisition["ElectricalSeries"].data.shape[0] == 3
    assert _run("truncate", remote["local"], small, "-n", "3", *remote["flags"])[0] != 0  # exists
    code, out = _run("truncate", remote["local"], small, "-n", "2", "--overwrite", *remote["flags"])
    assert code == 0, out
    with NWBZarrIO(small, "r", storage_options=options) as io:
        assert io.read().acquisition["ElectricalSeries"].data.shape[0] == 2
    legacy = "s3://cli-remote/legacy.nwb.zarr"
    code, out = _run("migrate", remote["local"], legacy, "--to", "v2", *remote["flags"])
    assert code == 0, out
    assert ".zmetadata" in _s3_bytes(remote["endpoint"], legacy)
    with NWBZarrIO(remote["local"], "r") as src, NWBZarrIO(legacy, "r", storage_options=options) as dst:
        np.testing.assert_array_equal(dst.read().acquisition["ElectricalSeries"].data[:],
                                      src.read().acquisition["ElectricalSeries"].data[:])


def test_info_of_an_hdf5_file_on_s3_reads_as_its_local_copy(remote, hdf5_source):
    """``info`` reads a remote HDF5 file (by its signature, through fsspec) as it reads the local file."""
    code, out = _run("info", hdf5_source["url"], *remote["flags"])
    assert code == 0, out
    assert out == _run("info", str(hdf5_source["local"]))[1] and "ElectricalSeries" in out
    code, out = _run("info", "--json", hdf5_source["url"], *remote["flags"])
    assert code == 0, out
    doc = json.loads(out)
    assert doc["format"] == "hdf5" and doc["location"] == hdf5_source["url"]
    assert [n["path"] for n in doc["nodes"]] == [n["path"] for n in json.loads(
        _run("info", "--json", str(hdf5_source["local"]))[1])["nodes"]]
