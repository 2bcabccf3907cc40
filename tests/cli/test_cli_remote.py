"""``--storage-option KEY=VALUE`` on the commands that open a path, against a real moto S3 server on loopback:
a remote store reads exactly as its local copy does."""

from __future__ import annotations

import json
from pathlib import Path

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
