"""Markdown tables and issue-16 target checks for the remote suite's results (``benchmarks.remote_bench``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .remote_bench import HDF5_REFERENCE, HDMF_ZARR
from .report import fmt_seconds

MEASURE_LABELS = {"read": "open + read()", "series": "one TimeSeries", "spikes": "100 units' spike_times",
                  "slice": "1-s slice", "write": "write"}
SPREAD_LIMIT = 1.5


@dataclass(frozen=True)
class RatioTarget:
    """``backend``'s median over ``reference``'s for one figure, met at or below ``limit``."""

    name: str
    section: str  # "W1", "W2" or "writes"
    backend: str
    measure: str
    reference: str
    limit: float
    floor: str = ""  # "local": nwbzarr on local disk over the reference; "server-cpu": the server's own CPU time


TARGETS = [
    RatioTarget("W2 open + read() <= 0.5x hdmf-zarr 0.14", "W2", "nwbzarr-obstore-http", "read", HDMF_ZARR, 0.5),
    RatioTarget("W2 open + read() <= 0.2x HDF5 over HTTP", "W2", "nwbzarr-obstore-http", "read", HDF5_REFERENCE, 0.2,
                floor="local"),
    RatioTarget("W1 1-s slice <= 1.0x hdmf-zarr 0.14", "W1", "nwbzarr-obstore-http", "slice", HDMF_ZARR, 1.0),
    RatioTarget("W2 write to moto S3 <= 3x the same write to a local directory", "writes", "write-s3", "write",
                "write-local", 3.0, floor="server-cpu"),
]
LOCAL_FLOOR = "nwbzarr-local"


def floor_ratio(remote: dict[str, Any], target: RatioTarget) -> float | None:
    """The lowest ratio the target's figure could reach here: nwbzarr reading the same file from local disk
    (no network at all), or the server's own CPU time for the request it served (a write cannot end before
    its server has handled it), over the reference."""
    figures = _section(remote, target.section)
    if target.floor == "local":
        return figure_ratio(figures, LOCAL_FLOOR, target.measure, target.reference)
    if target.floor == "server-cpu":
        try:
            cpu, ref = figures[target.backend][target.measure]["server_cpu_s"], \
                figures[target.reference][target.measure]["median_s"]
        except KeyError:
            return None
        return cpu / ref if ref > 0 else None
    return None
SPREAD_TARGET = f"every nwbzarr figure's runs within {SPREAD_LIMIT}x of each other (max/min)"


def _section(remote: dict[str, Any], name: str) -> dict[str, Any]:
    if name == "writes":
        return remote.get("writes", {}).get("backends", {})
    return remote.get("workloads", {}).get(name, {}).get("backends", {})


def figure_ratio(figures: dict[str, Any], backend: str, measure: str, reference: str) -> float | None:
    """Median time of ``backend`` over ``reference``'s for ``measure``, when both were measured."""
    try:
        ours, ref = figures[backend][measure]["median_s"], figures[reference][measure]["median_s"]
    except KeyError:
        return None
    return ours / ref if ref > 0 else None


def worst_spread(remote: dict[str, Any]) -> tuple[float | None, str]:
    """The largest max/min of nwbzarr's figures over their runs, and which figure (None: under 2 runs)."""
    worst: tuple[float | None, str] = (None, "")
    for section in ["W1", "W2", "writes"]:
        for backend, entry in _section(remote, section).items():
            if not (backend.startswith("nwbzarr") or backend.startswith("write")):
                continue
            for measure in MEASURE_LABELS:
                figure = entry.get(measure)
                if figure is None or len(figure["runs_s"]) < 2 or figure["spread"] is None:
                    continue
                if worst[0] is None or figure["spread"] > worst[0]:
                    worst = (figure["spread"], f"{section} {backend} {measure}")
    return worst


def check_targets(remote: dict[str, Any]) -> list[dict[str, Any]]:
    """Every issue-16 target with its value and whether it is met (None: not measured in this run)."""
    out = []
    for t in TARGETS:
        value = figure_ratio(_section(remote, t.section), t.backend, t.measure, t.reference)
        out.append({"target": t.name, "backend": t.backend, "reference": t.reference, "value": value,
                    "limit": t.limit, "met": None if value is None else value <= t.limit,
                    "floor": floor_ratio(remote, t)})
    spread, where = worst_spread(remote)
    out.append({"target": SPREAD_TARGET, "backend": where, "reference": None, "value": spread,
                "limit": SPREAD_LIMIT, "met": None if spread is None else spread <= SPREAD_LIMIT})
    return out


# --- markdown --------------------------------------------------------------------------------------


def _mb(n: float) -> str:
    return f"{n / 1e6:.3g}"


def _cells(figures: dict[str, Any], backend: str, measure: str) -> list[str]:
    """time (ratio to hdmf-zarr 0.14), requests, MB of one figure."""
    figure = figures[backend].get(measure)
    if figure is None:
        return ["-", "-", "-"]
    r = figure_ratio(figures, backend, measure, HDMF_ZARR)
    time = fmt_seconds(figure["median_s"]) + (f" ({r:.2f}x)" if r is not None else "")
    return [time, f"{figure['requests']:.0f}", _mb(figure["bytes"])]


def reads_table(workload: str, result: dict[str, Any]) -> str:
    """A row per client: each figure's time (ratio to hdmf-zarr 0.14), requests and MB; peak and spread."""
    figures = result["backends"]
    measures = ["read", "series", "spikes"] if workload == "W2" else ["read", "slice"]
    head = ["client"]
    for m in measures:
        head += [MEASURE_LABELS[m], "req", "MB"]
    head += ["peak in flight", "max/min of runs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for backend, entry in figures.items():
        row = [f"{entry['label']} (`{backend}`)"]
        for m in measures:
            row += _cells(figures, backend, m)
        peak = max(entry[m]["peak_in_flight"] for m in measures if m in entry)
        spreads = [entry[m]["spread"] for m in measures if m in entry and entry[m]["spread"]]
        row += [str(peak), f"{max(spreads):.2f}" if spreads else "-"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def writes_table(result: dict[str, Any]) -> str:
    figures = result["backends"]
    lines = ["| target | write | x local | requests | MB sent | server CPU | max/min of runs |",
             "|---|---|---|---|---|---|---|"]
    for backend, entry in figures.items():
        figure = entry["write"]
        r = figure_ratio(figures, backend, "write", "write-local")
        lines.append(f"| {entry['label']} (`{backend}`) | {fmt_seconds(figure['median_s'])} | "
                     f"{'-' if r is None else f'{r:.2f}x'} | {figure.get('requests', '-')} | "
                     f"{_mb(figure['bytes']) if 'bytes' in figure else '-'} | "
                     f"{fmt_seconds(figure['server_cpu_s']) if 'server_cpu_s' in figure else '-'} | "
                     f"{figure['spread']:.2f} |")
    return "\n".join(lines)


CLIENT_PAIRS = [("HTTP", "nwbzarr-http", "nwbzarr-obstore-http"), ("moto S3", "nwbzarr-s3", "nwbzarr-obstore-s3")]


def clients_table(remote: dict[str, Any]) -> str:
    """nwbzarr's fsspec client against its obstore client, figure by figure (issue 16, point 2)."""
    lines = ["| where | figure | fsspec | obstore | obstore / fsspec | faster |", "|---|---|---|---|---|---|"]
    for workload in ["W2", "W1"]:
        figures = _section(remote, workload)
        for where, default, obstore in CLIENT_PAIRS:
            if default not in figures or obstore not in figures:
                continue
            for measure in MEASURE_LABELS:
                if measure not in figures[default] or measure not in figures[obstore]:
                    continue
                r = figure_ratio(figures, obstore, measure, default)
                a, b = figures[default][measure], figures[obstore][measure]
                faster = "-" if r is None else "same (within 5%)" if abs(r - 1) < 0.05 else \
                    "obstore" if r < 1 else "fsspec"
                lines.append(f"| {where} | {workload} {MEASURE_LABELS[measure]} | {fmt_seconds(a['median_s'])}, "
                             f"{a['requests']:.0f} req | {fmt_seconds(b['median_s'])}, {b['requests']:.0f} req | "
                             f"{'-' if r is None else f'{r:.2f}'} | {faster} |")
    return "\n".join(lines)


def targets_table(targets: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | met |", "|---|---|---|"]
    for t in targets:
        met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
        if t["value"] is None:
            value = "not measured" if t["reference"] is not None else "needs >= 2 runs"
        elif t["reference"] is None:
            value = f"{t['value']:.2f} (worst: {t['backend']})"
        else:
            value = f"{t['value']:.2f}x"
        if t.get("floor") is not None:
            value += f" (floor here: {t['floor']:.2f}x{', below the target' if t['floor'] > t['limit'] else ''})"
        lines.append(f"| {t['target']} | {value} | {met} |")
    return "\n".join(lines)


FLOOR_NOTE = ("Floor: the lowest ratio the figure can reach on this machine. For reads, nwbzarr reading the same "
              "store from local disk (no network at all) over the reference; for the S3 write, moto's own CPU time "
              "for the write's requests over the local write. A target below its floor cannot be met here by any "
              "client.")


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def markdown(report: dict[str, Any]) -> str:
    """The remote report: machine and server line, the read tables, writes, clients, targets, problems."""
    meta, remote = report["meta"], report["remote"]
    m, server = meta["machine"], remote["server"]
    parts = [f"Run {meta['date']} on {m['nproc']} cores, {m['cpu']}, {m['ram_gib']:.0f} GiB RAM; "
             f"{meta['repeats']} runs per figure (median), each in a fresh subprocess; versions: "
             f"{_params_text(meta['versions'])}. Servers on 127.0.0.1: {server['delay_ms']:g} ms added to every "
             f"request, at most {server['max_connections']} requests served at once. Times in parentheses are "
             f"ratios to hdmf-zarr 0.14 in this run; req and MB are what the server counted for that figure."]
    for workload in ["W2", "W1"]:
        result = remote["workloads"].get(workload)
        if result and result["backends"]:
            parts.append(f"### Remote {workload} ({_params_text(result['params'])})\n\n"
                         + reads_table(workload, result))
    if remote.get("writes", {}).get("backends"):
        parts.append("### Remote W2 write\n\n" + writes_table(remote["writes"]))
    pairs = clients_table(remote)
    if pairs.count("\n") > 1:
        parts.append("### nwbzarr's fsspec client vs its obstore client\n\n" + pairs)
    parts.append("### Remote targets\n\n" + targets_table(report["targets"]) + "\n\n" + FLOOR_NOTE)
    problems = [f"- skipped `{name}`: {why}" for name, why in remote["skipped"].items()]
    problems += [f"- `{e['backend']}` {e['workload']} failed: {e['message'][-300:]}" for e in remote["errors"]]
    if problems:
        parts.append("### Not measured\n\n" + "\n".join(problems))
    return "\n\n".join(parts) + "\n"

