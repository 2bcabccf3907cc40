"""Markdown tables and the target checks (issue 17's, and issue 8's file counts) from the results dict built by
``benchmarks.runner``."""

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
    """One target: ``value`` is a time ratio to HDF5, a file count, or (``floor``) the directory store's plan
    execution over the I/O floor; met when on the right side of ``limit``."""

    name: str
    workload: str
    backend: str
    kind: str  # "ratio", "files" or "floor"
    measure: str
    limit: float
    at_least: bool = False
    reference: str = REFERENCE


TARGETS = [  # issue 17 (times: ratios to NWBHDF5IO uncompressed, same run), then issue 8's file counts
    Target("W2 write <= 0.8x HDF5 (directory store)", "W2", "zarr-dir", "ratio", "write", 0.8),
    Target("W2 write <= 0.8x HDF5 (SQLiteStore)", "W2", "zarr-sqlite", "ratio", "write", 0.8),
    Target("W2 write's plan execution <= 1.5x the I/O floor (directory store)", "W2", "zarr-dir", "floor",
           "write", 1.5),
    Target("W1 open + read() <= 1.2x HDF5", "W1", "zarr-dir", "ratio", "read", 1.2),
    Target("W2 one TimeSeries data[:] <= 1.5x HDF5", "W2", "zarr-dir", "ratio", "series", 1.5),
    Target("W1 write, default codec <= 0.6x HDF5 uncompressed", "W1", "zarr-dir", "ratio", "write", 0.6),
    Target("W2 open + read() <= 0.6x HDF5", "W2", "zarr-dir", "ratio", "read", 0.6),
    Target("W2 iterate all units' spike_times <= 1.2x HDF5", "W2", "zarr-dir", "ratio", "spikes", 1.2),
    Target("W1 write, uncompressed <= 0.8x HDF5 uncompressed", "W1", "zarr-dir-raw", "ratio", "write", 0.8),
    Target("W1 1-s slice, default codec <= 0.8x HDF5 uncompressed", "W1", "zarr-dir", "ratio", "slice", 0.8),
    Target("W2 on a single-file store (SQLite) <= 50 files", "W2", "zarr-sqlite", "files", "write", 50),
    Target("W2 on the HDF5-container store <= 50 files", "W2", "zarr-h5c", "files", "write", 50),
]


def _target_value(target: Target, results: dict[str, Any]) -> float | None:
    result = results.get(target.workload, {})
    figures = result.get("backends", {})
    if target.backend not in figures:
        return None
    if target.kind == "ratio":
        return ratio(figures, target.backend, target.measure, target.reference)
    if target.kind == "floor":  # each write against the floor measured right after it, else the run's best floor
        write = figures[target.backend][target.measure]
        if write.get("plan_over_floor_x"):
            return write["plan_over_floor_x"]
        plan, floor = write.get("write_builder_s"), result.get("io_floor", {}).get("best_s")
        return plan / floor if plan and floor else None
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
    return f"{value:.2f}x"


def targets_table(targets: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | met |", "|---|---|---|"]
    for entry in targets:
        met = {True: "yes", False: "**no**", None: "-"}[entry["met"]]
        lines.append(f"| {entry['target']} | {_target_value_text(entry)} | {met} |")
    return "\n".join(lines)


def floor_text(result: dict[str, Any]) -> str:
    """One paragraph: the directory store's write split into hdmf's build and the plan's execution, beside
    the time plain ``os`` calls take to create the same folders and files."""
    floor = result["io_floor"]
    write = result["backends"]["zarr-dir"]["write"]
    counts = [(int(k.split("_")[1]), v) for k, v in floor.items() if k.startswith("threads_")]
    threads = ", ".join(f"{n} thread{'s' if n > 1 else ''} {fmt_seconds(v)}" for n, v in counts)
    text = (f"I/O floor: creating the directory store's {floor['folders']:,} folders and {floor['files']:,} files "
            f"({floor['bytes'] / 1e6:.1f} MB) with plain os calls takes {threads}.")
    plan = write.get("write_builder_s")
    if plan:
        text += (f" nwbzarr's write: {fmt_seconds(write['median_s'])}, of which executing the plan "
                 f"(`write_builder`) {fmt_seconds(plan)} ({plan / floor['best_s']:.2f}x the best floor); the rest is "
                 f"hdmf's build, shared with HDF5, and opening and closing the store.")
    if write.get("plan_over_floor_x"):
        text += (f" Beside each write (the same tree recreated right after it, one thread): floor "
                 f"{fmt_seconds(write['floor_beside_s'])}, plan execution over that floor {write['plan_over_floor_x']:.2f}x "
                 f"(medians of the runs' own figures; per run: "
                 f"{', '.join(f'{s:.2f}x' for s in write.get('plan_over_floor_runs', []))}).")
    return text


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
        if "io_floor" in result:
            parts.append(floor_text(result))
    parts.append("### Targets\n\n" + targets_table(report["targets"]))
    return "\n\n".join(parts) + "\n"
