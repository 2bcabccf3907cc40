"""Markdown tables and issue-8 target checks from the results dict built by ``benchmarks.runner``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REFERENCE = "hdf5"  # ratios are to NWBHDF5IO, uncompressed, measured in the same run

TIME_COLUMNS = {
    "W1": [("write", "write"), ("read", "open + read()"), ("slice", "1-s slice")],
    "W2": [("write", "write"), ("read", "open + read()"), ("series", "one TimeSeries"),
           ("spikes", "all spike_times")],
}


def fmt_seconds(seconds: float) -> str:
    """Seconds with 3 significant digits, in ms below one second."""
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def ratio(figures: dict[str, Any], backend: str, measure: str, reference: str = REFERENCE) -> float | None:
    """Median time of ``backend`` over that of ``reference`` for one measurement, if both exist."""
    try:
        ours = figures[backend][measure]["median_s"]
        ref = figures[reference][measure]["median_s"]
    except KeyError:
        return None
    return ours / ref if ref > 0 else None


def _time_cell(figures: dict[str, Any], backend: str, measure: str) -> str:
    entry = figures[backend].get(measure)
    if entry is None:
        return "-"
    r = ratio(figures, backend, measure)
    return fmt_seconds(entry["median_s"]) + (f" ({r:.2f}x)" if r is not None else "")


def _rss_cell(figures: dict[str, Any], backend: str, measures: list[str]) -> str:
    values = [figures[backend][m]["maxrss_mib"] for m in measures if m in figures[backend]]
    return f"{max(values):.0f}" if values else "-"


def workload_table(workload: str, result: dict[str, Any]) -> str:
    """One markdown table: a row per backend, times as 'value (ratio to HDF5)'."""
    figures = result["backends"]
    columns = TIME_COLUMNS[workload]
    read_measures = [m for m, _ in columns if m != "write"]
    head = ["backend"] + [label for _, label in columns]
    if workload == "W1":
        head.insert(2, "write GB/s")
    head += ["files", "MB on disk", "peak RSS write (MiB)", "peak RSS read (MiB)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for backend, entry in figures.items():
        cells = [entry["label"]] + [_time_cell(figures, backend, m) for m, _ in columns]
        if workload == "W1":
            cells.insert(2, f"{entry['write_gbps']:.2f}")
        cells += [f"{entry['files']:,}", f"{entry['bytes'] / 1e6:.1f}", _rss_cell(figures, backend, ["write"]),
                  _rss_cell(figures, backend, read_measures)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One issue-8 target: ``value`` is a ratio, GB/s or a file count; met when on the right side."""

    name: str
    workload: str
    backend: str
    kind: str  # "ratio", "gbps" or "files"
    measure: str
    limit: float
    at_least: bool = False
    reference: str = REFERENCE


TARGETS = [
    Target("W2 write <= 1.0x HDF5 (directory store)", "W2", "zarr-dir", "ratio", "write", 1.0),
    Target("W2 open + read() <= 0.7x HDF5", "W2", "zarr-dir", "ratio", "read", 0.7),
    Target("W2 iterate all units' spike_times <= 1.5x HDF5", "W2", "zarr-dir", "ratio", "spikes", 1.5),
    Target("W1 write, default codec >= 1.2 GB/s", "W1", "zarr-dir", "gbps", "write", 1.2, at_least=True),
    Target("W1 write, uncompressed <= 0.9x HDF5 uncompressed", "W1", "zarr-dir-raw", "ratio", "write", 0.9),
    Target("W1 1-s slice, default codec <= 1.1x HDF5 uncompressed", "W1", "zarr-dir", "ratio", "slice", 1.1),
    Target("W2 on a single-file store (SQLite) <= 50 files", "W2", "zarr-sqlite", "files", "write", 50),
    Target("W2 on the HDF5-container store <= 50 files", "W2", "zarr-h5c", "files", "write", 50),
]


def _target_value(target: Target, results: dict[str, Any]) -> float | None:
    figures = results.get(target.workload, {}).get("backends", {})
    if target.backend not in figures:
        return None
    if target.kind == "ratio":
        return ratio(figures, target.backend, target.measure, target.reference)
    if target.kind == "gbps":
        return figures[target.backend]["write_gbps"]
    return float(figures[target.backend]["files"])


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with its measured value and whether it is met (None: not measured in this run)."""
    out = []
    for t in TARGETS:
        value = _target_value(t, results)
        met = None if value is None else (value >= t.limit if t.at_least else value <= t.limit)
        out.append({"target": t.name, "backend": t.backend, "value": value, "limit": t.limit, "met": met})
    return out


def _target_value_text(entry: dict[str, Any]) -> str:
    value = entry["value"]
    if value is None:
        return "not measured"
    if "files" in entry["target"]:
        return f"{value:,.0f} files"
    if "GB/s" in entry["target"]:
        return f"{value:.2f} GB/s"
    return f"{value:.2f}x"


def targets_table(targets: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | met |", "|---|---|---|"]
    for entry in targets:
        met = {True: "yes", False: "**no**", None: "-"}[entry["met"]]
        lines.append(f"| {entry['target']} | {_target_value_text(entry)} | {met} |")
    return "\n".join(lines)


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def markdown(report: dict[str, Any]) -> str:
    """The whole report: machine line, one table per workload, then the targets."""
    meta = report["meta"]
    m = meta["machine"]
    parts = [
        f"Run {meta['date']} on {m['nproc']} cores, {m['cpu']}, {m['ram_gib']:.0f} GiB RAM; "
        f"{meta['repeats']} runs per figure (median), each in a fresh subprocess; "
        f"versions: {_params_text(meta['versions'])}. Ratios are to HDF5 uncompressed in this run.",
    ]
    for workload, result in report["workloads"].items():
        parts.append(f"### {workload} ({_params_text(result['params'])})\n\n" + workload_table(workload, result))
    parts.append("### Targets\n\n" + targets_table(report["targets"]))
    return "\n\n".join(parts) + "\n"
