"""Structure tools benchmark: graph build and referrer lookups on a generated HDF5 file vs a naive scan.

``python -m benchmarks.structure_bench [--quick]``. The file has about 10,000 objects and 10,000
references (2,000 with --quick); the naive scan walks the file and asks HDF5 for each dereferenced
object's name, as simple readers do. Ratios are computed within one run.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from nwbzarr.structure import ReferenceIndex, dependency_graph, open_source


def make_file(path: Path, groups: int) -> tuple[int, int]:
    """``groups`` typed groups of 4 datasets; each group references another (attribute) and a 2-ref dataset."""
    rng = random.Random(0)
    objects = refs = 0
    with h5py.File(path, "w") as f:
        items = []
        for i in range(groups):
            g = f.create_group(f"/data/g{i // 100}/obj{i}")
            g.attrs["neurodata_type"] = "Thing"
            for name in ("a", "b", "c"):
                g.create_dataset(name, data=np.arange(4))
            items.append(g)
            objects += 4
        for i, g in enumerate(items):
            g.attrs["peer"] = items[rng.randrange(groups)].ref
            d = g.create_dataset("refs", shape=(1,), dtype=h5py.ref_dtype)
            d[0] = items[(i * 7) % groups].ref
            refs += 2
            objects += 1
        f.create_dataset("/index", data=[items[rng.randrange(groups)].ref for _ in range(groups * 3)],
                         dtype=h5py.ref_dtype)
        refs += groups * 3
    return objects, refs


def naive_referrers(path: Path, target: str) -> list[str]:
    """Scan every attribute and reference dataset, naming each referenced object (slow on big files)."""
    out = []
    with h5py.File(path, "r") as f:
        def visit(name: str, obj) -> None:
            for key, value in obj.attrs.items():
                if isinstance(value, h5py.Reference) and value and f[value].name == target:
                    out.append(f"/{name}@{key}")
            if isinstance(obj, h5py.Dataset) and h5py.check_dtype(ref=obj.dtype) is h5py.Reference:
                for i, ref in enumerate(obj[()]):
                    if ref and f[ref].name == target:
                        out.append(f"/{name}[{i}]")
        f.visititems(visit)
    return out


def timed(fn, *args):
    t0 = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 2,000-object file")
    args = parser.parse_args()
    groups = 400 if args.quick else 2000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.h5"
        objects, refs = make_file(path, groups)
        print(f"file: {objects} objects, {refs} references")
        graph, t_graph = timed(dependency_graph, path)
        print(f"dependency_graph:     {t_graph:8.3f} s  ({graph.number_of_nodes()} nodes, "
              f"{graph.number_of_edges()} edges)")
        with open_source(path) as src:
            index, t_index = timed(ReferenceIndex, src)
        print(f"ReferenceIndex build: {t_index:8.3f} s")
        targets = [f"/data/g{i // 100}/obj{i}" for i in random.Random(1).sample(range(groups), 200)]
        t0 = time.perf_counter()
        answers = [index.referrers(t) for t in targets]
        t_lookup = (time.perf_counter() - t0) / len(targets)
        print(f"indexed lookup:       {t_lookup * 1e6:8.1f} us per referrers() ({len(targets)} lookups)")
        naive_n = 3 if args.quick else 1
        t0 = time.perf_counter()
        for t, indexed in zip(targets[:naive_n], answers):
            naive = naive_referrers(path, t)
            assert len(naive) == len([r for r in indexed if not r.via.startswith("link:")]), t
        t_naive = (time.perf_counter() - t0) / naive_n
        print(f"naive scan lookup:    {t_naive * 1e3:8.1f} ms per lookup ({naive_n} lookups)")
        print(f"ratio naive / indexed lookup: {t_naive / t_lookup:,.0f}x")
        print(f"ratio naive lookup / (index build + one lookup): {t_naive / (t_index + t_lookup):.1f}x")


if __name__ == "__main__":
    main()
