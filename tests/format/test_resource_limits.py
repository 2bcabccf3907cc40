"""Hostile metadata cannot exhaust the stack or memory (issue 14, point 3).

Deeply nested JSON and deeply nested groups raise ResourceLimitError (a FormatError) naming the store and
the node; a dataset whose declared shape is 10^15 with one chunk written converts Zarr -> HDF5 -> Zarr
chunk by chunk and stays sparse. Every hostile case runs in a subprocess limited to 2 GiB of address
space (RLIMIT_AS), so a regression fails with MemoryError instead of swapping the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pynwb import NWBFile, TimeSeries

from nwbzarr import NWBZarrIO
from nwbzarr.format.base import MAX_JSON_DEPTH, MAX_NODE_DEPTH, FormatError, ResourceLimitError, parse_json

SRC = Path(__file__).resolve().parents[2] / "src"
LIMIT = 2 << 30


def run_limited(code: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter whose address space is limited to ``LIMIT`` bytes."""
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({LIMIT}, {LIMIT}))\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def _nwb(n: int = 10) -> NWBFile:
    nwb = NWBFile(session_description="s", identifier="i", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    nwb.add_acquisition(TimeSeries(name="ts", data=np.arange(float(n)), unit="m", rate=1.0))
    return nwb


@pytest.fixture(params=[3, 2], ids=["v3", "v2"])
def small_store(request, tmp_path) -> tuple[Path, int]:
    path = tmp_path / "small.nwb.zarr"
    with NWBZarrIO(str(path), mode="w", zarr_format=request.param) as io:
        io.write(_nwb())
    return path, request.param


def _edit_metadata(path: Path, fmt: int, node: str, edit) -> None:
    """Apply ``edit`` to a node's metadata document both in consolidated metadata and on its own."""
    if fmt == 3:
        root = json.loads((path / "zarr.json").read_text())
        if node:
            edit(root["consolidated_metadata"]["metadata"][node])
            doc = json.loads((path / node / "zarr.json").read_text())
            edit(doc)
            (path / node / "zarr.json").write_text(json.dumps(doc))
        else:
            edit(root)
        (path / "zarr.json").write_text(json.dumps(root))
    else:
        name = ".zarray" if (path / node / ".zarray").exists() else ".zattrs"
        zmeta = json.loads((path / ".zmetadata").read_text())
        edit(zmeta["metadata"][f"{node}/{name}" if node else name])
        (path / ".zmetadata").write_text(json.dumps(zmeta))
        doc = json.loads((path / node / name).read_text())
        edit(doc)
        (path / node / name).write_text(json.dumps(doc))


# --- deep JSON --------------------------------------------------------------------------------------
def _nested_text(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def _put_deep_attribute(path: Path, fmt: int, depth: int) -> None:
    """Root attribute ``deep`` nested ``depth`` lists deep, in every root document (text surgery: json.dumps
    itself cannot write such a value)."""
    for name in (["zarr.json"] if fmt == 3 else [".zattrs", ".zmetadata"]):
        doc = json.loads((path / name).read_text())
        target = doc["attributes"] if name == "zarr.json" else (doc["metadata"][".zattrs"] if "metadata" in doc else doc)
        target["deep"] = "@DEEP@"
        (path / name).write_text(json.dumps(doc).replace('"@DEEP@"', _nested_text(depth)))


@pytest.mark.parametrize("use_consolidated", [True, False])
def test_attribute_nested_100000_deep_is_a_clear_error(small_store, use_consolidated: bool) -> None:
    path, fmt = small_store
    _put_deep_attribute(path, fmt, 100_000)
    mode = "r" if use_consolidated else "r-"
    result = run_limited(f"""
        from nwbzarr import NWBZarrIO
        from nwbzarr.format.base import FormatError
        try:
            with NWBZarrIO({str(path)!r}, mode={mode!r}) as io:
                io.read()
        except FormatError as exc:
            print("ERROR", exc)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "RecursionError" not in result.stderr
    assert result.stdout.startswith("ERROR"), result.stdout
    assert str(path) in result.stdout and f"deeper than {MAX_JSON_DEPTH} levels" in result.stdout


def test_structure_tools_refuse_deep_attribute(small_store) -> None:
    path, fmt = small_store
    _put_deep_attribute(path, fmt, 100_000)
    result = run_limited(f"""
        from nwbzarr.info import summarise
        from nwbzarr.structure.sources import open_source
        for name, call in (("info", lambda: summarise({str(path)!r})),
                           ("graph", lambda: open_source({str(path)!r}).structure())):
            try:
                call()
                print(name, "no error")
            except ValueError as exc:
                print(name, type(exc).__name__, exc)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(str(path) in line and "deeper than" in line for line in lines), lines


@settings(max_examples=25, deadline=None)
@given(depth=st.integers(min_value=1, max_value=3 * MAX_JSON_DEPTH))
def test_parse_json_depth_limit_is_exact(depth: int) -> None:
    text = _nested_text(depth - 1) if depth > 1 else "1"  # depth counts containers, plus the scalar level
    doc_depth = depth - 1
    if doc_depth <= MAX_JSON_DEPTH:
        assert parse_json(text, "doc") == json.loads(text)
    else:
        with pytest.raises(ResourceLimitError, match="doc nests lists or objects deeper"):
            parse_json(text, "doc")


def test_deep_objects_name_the_place() -> None:
    doc: dict = {}
    inner = doc
    for _ in range(MAX_JSON_DEPTH + 5):
        inner["k"] = {}
        inner = inner["k"]
    with pytest.raises(ResourceLimitError, match=r"at k/k/k/k/k/k/k/k/\.\.\."):
        parse_json(json.dumps(doc), "zarr.json")


def test_attribute_at_a_normal_depth_reads_back(small_store) -> None:
    path, fmt = small_store
    _put_deep_attribute(path, fmt, 20)
    with NWBZarrIO(str(path), mode="r") as io:
        io.read()
        value = io.nodes[""].attrs["deep"]
    for _ in range(20):
        value = value[0]
    assert value == 1


def test_deep_reference_text_is_refused() -> None:
    from nwbzarr.format.v3 import decode_reference_element

    with pytest.raises(ResourceLimitError):
        decode_reference_element("{" + '"a":' * 0 + '"x": ' + _nested_text(100_000) + "}")


# --- deep groups ------------------------------------------------------------------------------------------
def _nest_groups(path: Path, fmt: int, depth: int) -> None:
    """``depth`` empty groups nested under /analysis, written into consolidated metadata only."""
    node, group = "analysis", {"zarr_format": 3, "node_type": "group", "attributes": {}}
    if fmt == 3:
        root = json.loads((path / "zarr.json").read_text())
        for _ in range(depth):
            node += "/g"
            root["consolidated_metadata"]["metadata"][node] = group
        (path / "zarr.json").write_text(json.dumps(root))
    else:
        zmeta = json.loads((path / ".zmetadata").read_text())
        for _ in range(depth):
            node += "/g"
            zmeta["metadata"][f"{node}/.zgroup"] = {"zarr_format": 2}
        (path / ".zmetadata").write_text(json.dumps(zmeta))


def test_groups_nested_beyond_the_limit_are_refused(small_store) -> None:
    path, fmt = small_store
    _nest_groups(path, fmt, 3000)
    result = run_limited(f"""
        from nwbzarr import NWBZarrIO
        from nwbzarr.format.base import FormatError
        try:
            with NWBZarrIO({str(path)!r}, mode="r") as io:
                io.read()
        except FormatError as exc:
            print("ERROR", exc)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ERROR") and str(path) in result.stdout, result.stdout
    assert f"nested {MAX_NODE_DEPTH + 1} groups deep" in result.stdout


def test_groups_nested_to_the_limit_read(small_store) -> None:
    path, fmt = small_store
    _nest_groups(path, fmt, MAX_NODE_DEPTH - 1)  # /analysis + 99 groups = 100 levels
    with NWBZarrIO(str(path), mode="r") as io:
        nwb = io.read()
        assert nwb.identifier == "i"
        assert ("analysis" + "/g" * (MAX_NODE_DEPTH - 1)) in io.nodes


# --- huge declared shapes ---------------------------------------------------------------------------------
HUGE = 10**15


def _declare_huge(path: Path, fmt: int) -> None:
    def edit(doc: dict) -> None:
        doc["shape"] = [HUGE]

    _edit_metadata(path, fmt, "acquisition/ts/data", edit)


def test_huge_sparse_dataset_converts_both_ways_in_bounded_memory(small_store, tmp_path) -> None:
    path, fmt = small_store
    _declare_huge(path, fmt)
    h5, back = tmp_path / "huge.nwb", tmp_path / "back.nwb.zarr"
    result = run_limited(f"""
        import json
        import h5py
        from nwbzarr import NWBZarrIO
        from nwbzarr.convert import convert
        convert({str(path)!r}, {str(h5)!r})
        with h5py.File({str(h5)!r}, "r") as f:
            ds = f["acquisition/ts/data"]
            print("h5", ds.shape[0], ds.id.get_num_chunks(), json.dumps(ds[:12].tolist() + ds[{HUGE} - 2:].tolist()))
        convert({str(h5)!r}, {str(back)!r})
        with NWBZarrIO({str(back)!r}, mode="r") as io:
            data = io.read().acquisition["ts"].data
            print("zarr", data.shape[0], json.dumps(data[:12].tolist() + data[{HUGE} - 2:].tolist()))
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = [float(i) for i in range(10)] + [0.0, 0.0, 0.0, 0.0]
    h5_line, zarr_line = result.stdout.splitlines()
    assert h5_line.startswith(f"h5 {HUGE} 1 ") and json.loads(h5_line.split(" ", 3)[3]) == expected
    assert zarr_line.startswith(f"zarr {HUGE} ") and json.loads(zarr_line.split(" ", 2)[2]) == expected
    chunk_dir = back / "acquisition" / "ts" / "data"
    stored = [p for p in chunk_dir.rglob("*") if p.is_file() and not p.name.startswith((".z", "zarr.json"))]
    assert len(stored) == 1  # sparse stays sparse: only chunk 0 is written


def test_dense_large_dataset_converts_chunk_by_chunk(tmp_path) -> None:
    """Above the whole-copy threshold, a dense dataset goes through the chunk iterator and keeps its values."""
    from nwbzarr import convert as convert_module

    src, h5 = tmp_path / "dense.nwb.zarr", tmp_path / "dense.nwb"
    n = 5000
    with NWBZarrIO(str(src), mode="w") as io:
        io.write(_nwb(n))
    threshold = convert_module.WHOLE_COPY_BYTES
    convert_module.WHOLE_COPY_BYTES = 1000
    try:
        convert_module.convert(src, h5)
    finally:
        convert_module.WHOLE_COPY_BYTES = threshold
    import h5py

    with h5py.File(h5, "r") as f:
        np.testing.assert_array_equal(f["acquisition/ts/data"][:], np.arange(float(n)))


def test_text_dataset_too_large_for_memory_is_refused(tmp_path) -> None:
    """Text is read whole by HDF5IO: a declared shape that cannot fit is refused before allocating."""
    path = tmp_path / "text.nwb.zarr"
    nwb = _nwb()
    nwb.acquisition["ts"].fields["control_description"] = ["a", "b"]
    nwb.acquisition["ts"].fields["control"] = np.zeros(10, dtype=np.uint8)
    with NWBZarrIO(str(path), mode="w") as io:
        io.write(nwb)

    def edit(doc: dict) -> None:
        doc["shape"] = [HUGE]

    _edit_metadata(path, 3, "acquisition/ts/control_description", edit)
    result = run_limited(f"""
        from nwbzarr.convert import convert
        from nwbzarr.format.base import ResourceLimitError
        try:
            convert({str(path)!r}, {str(tmp_path / "x.nwb")!r})
            print("converted")
        except ResourceLimitError as exc:
            print("ERROR", exc)
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ERROR"), result.stdout
    assert "/acquisition/ts/control_description" in result.stdout and str(path) in result.stdout


def test_format_error_is_the_base() -> None:
    assert issubclass(ResourceLimitError, FormatError)


def test_hdf5_with_huge_sparse_2d_dataset_converts_to_zarr(tmp_path) -> None:
    """HDF5 -> Zarr: a chunked dataset resized to 10^9 x 10^6 (8 PB declared, 4 chunks allocated): even
    one row is too large for memory, so only the allocated chunks are copied."""
    import h5py
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO

    h5, target = tmp_path / "wide.nwb", tmp_path / "wide.nwb.zarr"
    nwb = _nwb()
    values = np.arange(20.0).reshape(10, 2)
    nwb.add_acquisition(TimeSeries(name="wide", data=H5DataIO(values, chunks=(5, 1), maxshape=(None, None)),
                                   unit="m", rate=1.0))
    with NWBHDF5IO(str(h5), "w") as io:
        io.write(nwb)
    with h5py.File(h5, "a") as f:
        f["acquisition/wide/data"].resize((10**9, 10**6))
    result = run_limited(f"""
        import json
        from nwbzarr import NWBZarrIO
        from nwbzarr.convert import convert
        convert({str(h5)!r}, {str(target)!r})
        with NWBZarrIO({str(target)!r}, mode="r") as io:
            data = io.read().acquisition["wide"].data
            print(json.dumps([list(data.shape), data[:10, :2].tolist(), data[10**9 - 1, 10**6 - 3:].tolist()]))
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    shape, head, tail = json.loads(result.stdout)
    assert shape == [10**9, 10**6] and head == values.tolist() and tail == [0.0, 0.0, 0.0]


def test_documents_too_deep_to_read_back_are_not_written() -> None:
    from nwbzarr.format.base import encode_json

    value: list = [1]
    for _ in range(MAX_JSON_DEPTH):
        value = [value]
    with pytest.raises(ResourceLimitError, match="being written"):
        encode_json({"attributes": {"deep": value}})
    assert json.loads(encode_json({"attributes": {"ok": value[0][0][0]}}))["attributes"]["ok"] == value[0][0][0]


def test_hdf5_groups_nested_too_deep_are_refused(tmp_path) -> None:
    """HDF5 -> Zarr and the structure tools refuse 3000 nested groups (HDF5IO itself would hit RecursionError)."""
    import h5py
    from pynwb import NWBHDF5IO

    h5 = tmp_path / "deep.nwb"
    with NWBHDF5IO(str(h5), "w") as io:
        io.write(_nwb())
    with h5py.File(h5, "a") as f:
        f.create_group("analysis/" + "/".join(["g"] * 3000))
    result = run_limited(f"""
        from nwbzarr.convert import convert
        from nwbzarr.structure.sources import open_source
        for name, call in (("convert", lambda: convert({str(h5)!r}, {str(tmp_path / "x.zarr")!r})),
                           ("graph", lambda: open_source({str(h5)!r}).structure())):
            try:
                call()
                print(name, "no error")
            except ValueError as exc:
                print(name, type(exc).__name__, exc)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("convert ResourceLimitError") and str(h5) in lines[0], lines
    assert lines[1].startswith("graph StructureError") and str(h5) in lines[1], lines
    assert not (tmp_path / "x.zarr").exists()


def test_parallel_convert_of_a_huge_sparse_hdf5_dataset(small_store, tmp_path) -> None:
    """``jobs=2`` leaves sparse datasets to the chunk-by-chunk copy instead of iterating their whole shape."""
    path, fmt = small_store
    _declare_huge(path, fmt)
    h5, back = tmp_path / "huge.nwb", tmp_path / "back.nwb.zarr"
    result = run_limited(f"""
        import json
        from nwbzarr import NWBZarrIO
        from nwbzarr.convert import convert
        convert({str(path)!r}, {str(h5)!r})
        convert({str(h5)!r}, {str(back)!r}, jobs=2)
        with NWBZarrIO({str(back)!r}, mode="r") as io:
            data = io.read().acquisition["ts"].data
            print(data.shape[0], json.dumps(data[:11].tolist()))
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [str(HUGE), *json.dumps([float(i) for i in range(10)] + [0.0]).split()]


def _nesting(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_nesting(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_nesting(v) for v in value), default=0)
    return 0


_TRICKY_TEXT = st.text(alphabet=st.sampled_from(list('[]{}"\\\n\t,:aé€😀\x00')), max_size=12)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY_TEXT, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(value=_JSON_VALUES)
def test_json_nesting_counts_containers_and_ignores_brackets_in_strings(value) -> None:
    """The scan that spares most documents the walk (``encode_json``) agrees with the values themselves."""
    from nwbzarr.format.base import json_nesting

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert json_nesting(text) == _nesting(value)


@settings(max_examples=40, deadline=None)
@given(extra=st.integers(min_value=-3, max_value=3), text=_TRICKY_TEXT)
def test_encode_json_refuses_exactly_past_the_limit(extra: int, text: str) -> None:
    from nwbzarr.format.base import encode_json

    value: list = [text]
    for _ in range(MAX_JSON_DEPTH - 2 + extra):  # the document and "attributes" are two levels
        value = [value, "]]]{{{"]
    doc = {"attributes": {"deep": value}}
    if _nesting(doc) <= MAX_JSON_DEPTH:
        assert json.loads(encode_json(doc)) == doc
    else:
        with pytest.raises(ResourceLimitError, match="being written"):
            encode_json(doc)
