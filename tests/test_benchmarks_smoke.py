"""Smoke test of the benchmark suite: runs at a tiny size and checks the JSON report's shape.

No timing is asserted: the figures only have to exist and be positive numbers.
"""

from __future__ import annotations

import json
import math

import pytest
from benchmarks.__main__ import main
from benchmarks.report import TARGETS

BACKENDS = "hdf5,zarr-dir,zarr-sqlite"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "results.json"
    assert main(["--tiny", "--backends", BACKENDS, "--out", str(out), "--workdir", str(tmp / "work")]) == 0
    return json.loads(out.read_text())


def test_top_level_keys(report):
    assert set(report) == {"meta", "workloads", "targets"}
    assert set(report["workloads"]) == {"W1", "W2"}
    for key in ["date", "preset", "repeats", "machine", "versions"]:
        assert key in report["meta"]
    assert set(report["meta"]["machine"]) >= {"nproc", "cpu", "ram_gib"}


@pytest.mark.parametrize(("workload", "measures"), [("W1", ["write", "read", "slice"]),
                                                     ("W2", ["write", "read", "series", "spikes"])])
def test_workload_figures(report, workload, measures):
    backends = report["workloads"][workload]["backends"]
    assert set(backends) == set(BACKENDS.split(","))
    for figures in backends.values():
        for measure in measures:
            entry = figures[measure]
            assert entry["median_s"] > 0 and math.isfinite(entry["median_s"])
            assert len(entry["runs_s"]) == report["meta"]["repeats"]
            assert entry["maxrss_mib"] > 0
        assert figures["files"] >= 1 and figures["bytes"] > 0
        if workload == "W1":
            assert figures["write_gbps"] > 0
        if figures["label"].startswith("nwbzarr"):  # the plan's execution, timed apart from hdmf's build
            assert 0 < figures["write"]["write_builder_s"] < figures["write"]["median_s"]


def test_io_floor(report):
    """The directory store's tree recreated with plain os calls: the same counts as the store holds."""
    floor = report["workloads"]["W2"]["io_floor"]
    store = report["workloads"]["W2"]["backends"]["zarr-dir"]
    # the backend's folder also holds the store's writer-lock file beside the store
    assert floor["files"] == store["files"] - 1 and 0 < floor["bytes"] <= store["bytes"]
    assert 0 < floor["best_s"] == min(floor["threads_1_s"], floor["threads_4_s"])


def test_targets_listed(report):
    names = [t["target"] for t in report["targets"]]
    assert names == [t.name for t in TARGETS]
    by_backend = {t["backend"]: t for t in report["targets"] if "SQLite" in t["target"]}
    assert by_backend["zarr-sqlite"]["met"] is True  # one file, whatever the machine's speed


def test_backends_read_the_same_data(report):
    """Every backend delivered the same spike count and object count, so they read the same file."""
    backends = report["workloads"]["W2"]["backends"].values()
    assert len({b["spikes"]["spikes"] for b in backends}) == 1
    assert len({b["read"]["objects"] for b in backends}) == 1
