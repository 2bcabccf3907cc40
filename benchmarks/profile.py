"""Profile one benchmark operation with pyinstrument (only the timed part, not the setup).

    python -m benchmarks.profile W2 write [--backend zarr-dir] [--preset full] [--workdir DIR]

Writes the file first when a read measurement is asked for and nothing is there yet. The text profile
goes to ``DIR/profile-<workload>-<backend>-<measure>.txt`` (plus ``.html``) and is printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import runner, tasks
from .workloads import PRESETS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    p.add_argument("workload", choices=["W1", "W2"])
    p.add_argument("measure", choices=[m for m in tasks.MEASURES if m != "prepare"])
    p.add_argument("--backend", default="zarr-dir", choices=list(tasks.BACKENDS))
    p.add_argument("--preset", default="full", choices=list(PRESETS))
    p.add_argument("--workdir", default="benchmark_profiles")
    args = p.parse_args(argv)
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    params = PRESETS[args.preset][args.workload]
    task = runner._task(args.workload, params, args.backend, args.measure, workdir)
    if args.workload == "W1":
        tasks.run_task({**task, "measure": "prepare"})
    if args.measure != "write" and not tasks.data_location(tasks.BACKENDS[args.backend], Path(task["path"])).exists():
        tasks.run_task({**task, "measure": "write"})
    out = workdir / f"profile-{args.workload}-{args.backend}-{args.measure}.txt"
    tasks._PROFILE["path"] = str(out)
    result = tasks.run_task(task)
    print(out.read_text())
    print(f"{args.workload} {args.backend} {args.measure}: {result['seconds']:.3f} s (profiled); {out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
