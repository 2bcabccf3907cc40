"""Smoke test of the remote benchmark suite (issue 16): a tiny run over the real HTTP and moto S3 servers.

Checks the report's keys and that every client read the same file; no timing is asserted. hdmf-zarr 0.14
(its own venv) and the remfile client are left out here: the suite skips them by name.
"""

from __future__ import annotations

import json
import math

import pytest
from benchmarks.__main__ import main
from benchmarks.remote_report import SPREAD_TARGET, TARGETS

CLIENTS = ["nwbzarr-http", "nwbzarr-obstore-http", "hdf5-fsspec-http", "nwbzarr-s3", "nwbzarr-local"]
LOCAL = {"nwbzarr-local", "hdf5-local"}  # the same files from disk: the server sees no request
WRITERS = ["write-local", "write-s3"]
FIGURE_KEYS = {"median_s", "runs_s", "spread", "requests", "bytes", "peak_in_flight", "methods"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("remote-bench")
    out = tmp / "results.json"
    args = ["--only", "remote", "--tiny", "--backends", ",".join(CLIENTS + WRITERS), "--delay-ms", "2",
            "--max-connections", "4", "--out", str(out), "--workdir", str(tmp / "work")]
    assert main(args) == 0
    return json.loads(out.read_text())


def test_top_level_keys(report):
    assert set(report) == {"meta", "remote", "targets"}
    assert set(report["remote"]) == {"server", "workloads", "writes", "skipped", "errors"}
    assert report["remote"]["server"] == {"delay_ms": 2.0, "max_connections": 4}
    assert report["remote"]["errors"] == [] and report["remote"]["skipped"] == {}
    assert set(report["meta"]) >= {"date", "preset", "repeats", "machine", "versions"}


@pytest.mark.parametrize(("workload", "measures"), [("W1", ["read", "slice"]), ("W2", ["read", "series", "spikes"])])
def test_read_figures(report, workload, measures):
    backends = report["remote"]["workloads"][workload]["backends"]
    assert list(backends) == CLIENTS
    for entry in backends.values():
        for measure in measures:
            figure = entry[measure]
            assert set(figure) >= FIGURE_KEYS
            assert figure["median_s"] > 0 and math.isfinite(figure["median_s"])
            assert len(figure["runs_s"]) == report["meta"]["repeats"]
    for name, entry in backends.items():
        if name in LOCAL:
            assert entry["read"]["requests"] == 0
            continue
        assert entry["read"]["requests"] >= 1 and entry["read"]["bytes"] > 0  # the server counted the open
        assert entry["read"]["peak_in_flight"] <= entry["read"]["requests"]


def test_clients_read_the_same_files(report):
    """Same object count, spike count and slice checksum from every client: they read the same data."""
    w2 = report["remote"]["workloads"]["W2"]["backends"].values()
    assert len({b["read"]["objects"] for b in w2}) == 1
    assert len({b["spikes"]["spikes"] for b in w2}) == 1
    w1 = report["remote"]["workloads"]["W1"]["backends"].values()
    assert len({b["slice"]["checksum"] for b in w1}) == 1


def test_write_figures(report):
    writes = report["remote"]["writes"]["backends"]
    assert list(writes) == WRITERS
    assert writes["write-local"]["write"]["median_s"] > 0
    s3 = writes["write-s3"]["write"]
    assert set(s3) >= FIGURE_KEYS
    assert s3["methods"].get("PUT", 0) >= 1 and s3["bytes"] > 0  # the store went to the S3 server


def test_targets_listed(report):
    assert [t["target"] for t in report["targets"]] == [t.name for t in TARGETS] + [SPREAD_TARGET]
    by_name = {t["target"]: t for t in report["targets"]}
    assert by_name[SPREAD_TARGET]["value"] is None  # one run: no spread to show
    assert by_name[TARGETS[1].name]["value"] > 0  # nwbzarr vs HDF5 over HTTP, both measured here
    assert by_name[TARGETS[0].name]["value"] is None  # hdmf-zarr 0.14 was not run
    # the floors: nwbzarr with no network over HDF5 over HTTP, and moto's own CPU over the local write
    http = report["remote"]["workloads"]["W2"]["backends"]
    assert by_name[TARGETS[1].name]["floor"] == pytest.approx(
        http["nwbzarr-local"]["read"]["median_s"] / http["hdf5-fsspec-http"]["read"]["median_s"])
    assert by_name[TARGETS[3].name]["floor"] > 0
