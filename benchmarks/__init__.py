"""nwbzarr benchmark suite (issue 8): W1 (one large ElectricalSeries) and W2 (many small objects).

Run ``python -m benchmarks [--quick] [--only W1|W2|remote] [--out results.json]``; see ``benchmarks/README.md``.
"""
