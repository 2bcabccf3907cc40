"""``nwbzarr convert`` is a faithful copy, on every HDF5 file of the shared data, in both Zarr layouts.

HDF5 -> Zarr -> HDF5 must give back the same file as h5py sees it (cached specs text for text, every
attribute with its type, data byte for byte, references resolving to the same paths and regions, soft and
external links), and the Zarr copy in between must hold the same objects, values and cached specs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr

from _h5_snapshot import cached_specs, external_link_files, snapshot
from backend.test_interop_hdmf_zarr import hdmf_zarr_014  # noqa: F401 - the hdmf-zarr 0.14 venv fixture
from nwbzarr.convert import convert
from nwbzarr.structure.hdf5_source import HDF5Source
from nwbzarr.structure.zarr_source import ZarrSource

FOLDERS = ("real", "hdf5")
FILES = [
    (folder, name)
    for folder in FOLDERS
    for name in sorted(p.name for p in (Path(__file__).resolve().parents[2] / "shared" / "data" / folder).glob("*.nwb"))
]


@pytest.fixture(scope="module")
def converted(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """``get(fmt, folder, name)`` -> (source copy, Zarr copy, HDF5 copy of the Zarr copy), made once each.

    Copies sit beside each other as ``convert`` expects for external links (``x.nwb`` -> ``x.nwb.zarr``)."""
    root = tmp_path_factory.mktemp("fidelity")
    done: dict[tuple[int, str, str], tuple[Path, Path, Path]] = {}

    def get(fmt: int, folder: str, name: str) -> tuple[Path, Path, Path]:
        key = (fmt, folder, name)
        if key not in done:
            work = root / f"v{fmt}" / folder
            work.mkdir(parents=True, exist_ok=True)
            source = work / name
            shutil.copy(shared_data / folder / name, source)
            for other in sorted(external_link_files(source)):
                get(fmt, folder, other)
            store, back = work / f"{name}.zarr", work / f"back_{name}"
            convert(source, store, zarr_format=fmt)
            convert(store, back)
            done[key] = (source, store, back)
        return done[key]

    return get


def _ids(param) -> str:
    return "/".join(param) if isinstance(param, tuple) else str(param)


@pytest.fixture(params=[3, 2], ids=lambda f: f"zarr{f}")
def fmt(request) -> int:
    return request.param


def test_every_shared_file_is_covered(shared_data: Path):
    on_disk = {(folder, p.name) for folder in FOLDERS for p in (shared_data / folder).glob("*.nwb")}
    assert on_disk == set(FILES) and len(FILES) >= 12


# --- cached specs --------------------------------------------------------------------------------------
def _zarr_specs(store: Path) -> dict[str, dict[str, bytes]]:
    """Cached specs of a Zarr store, read without nwbzarr: ``{"<ns>/<version>": {file: text}}``."""
    if (store / ".zgroup").exists():
        return _zarr2_specs(store)
    group = zarr.open_group(str(store), mode="r", use_consolidated=False)
    loc = group.attrs.get(".specloc")
    if loc is None:
        assert "specifications" not in group, "specs cached without a .specloc root attribute"
        return {}
    out: dict[str, dict[str, bytes]] = {}
    specs = group[loc.strip("/")]
    for ns_name, ns in specs.groups():
        for version, files in ns.groups():
            out[f"{ns_name}/{version}"] = {
                name: str(np.asarray(arr[...]).reshape(-1)[0]).encode("utf-8") for name, arr in files.arrays()
            }
    return out


def _zarr2_specs(store: Path) -> dict[str, dict[str, bytes]]:
    """The same for the legacy layout, chunks decoded with numcodecs (zarr 3 cannot open ``json2`` arrays)."""
    loc = json.loads((store / ".zattrs").read_text()).get(".specloc") if (store / ".zattrs").exists() else None
    if loc is None:
        assert not (store / "specifications").exists(), "specs cached without a .specloc root attribute"
        return {}
    out: dict[str, dict[str, bytes]] = {}
    for array in sorted((store / loc.strip("/")).glob("*/*/*/.zarray")):
        meta = json.loads(array.read_text())
        raw = (array.parent / "0").read_bytes()
        if meta.get("compressor"):
            raw = numcodecs.get_codec(meta["compressor"]).decode(raw)
        for codec in reversed(meta.get("filters") or []):
            raw = numcodecs.get_codec(codec).decode(raw)
        text = str(np.asarray(raw, dtype=object).reshape(-1)[0]).encode("utf-8")
        out.setdefault(f"{array.parent.parent.parent.name}/{array.parent.parent.name}", {})[array.parent.name] = text
    return out


@pytest.mark.parametrize("case", FILES, ids=_ids)
def test_cached_specs_are_the_files_own_both_ways(converted, fmt: int, case: tuple[str, str]):
    source, store, back = converted(fmt, *case)
    original = cached_specs(source)
    assert _zarr_specs(store) == original
    assert cached_specs(back) == original


def test_an_old_schema_stays_old(converted, fmt: int):
    """The NWB 2.1.0 file keeps core 2.1.0 / hdmf-common 1.0.0, not the installed schema."""
    _, store, back = converted(fmt, "real", "1.1.2_nwbfile.nwb")
    assert set(_zarr_specs(store)) == {"core/2.1.0", "hdmf-common/1.0.0"}
    assert set(cached_specs(back)) == {"core/2.1.0", "hdmf-common/1.0.0"}
    assert zarr.open_group(str(store), mode="r", use_consolidated=False).attrs["nwb_version"] == "2.1.0"


def test_a_file_without_cached_specs_stays_without(converted, fmt: int):
    source, store, back = converted(fmt, "real", "ecephys_tutorial.nwb")
    assert cached_specs(source) == {}
    assert not (store / "specifications").exists()
    assert snapshot(back).get("/specifications") is None


# --- HDF5 -> Zarr -> HDF5 ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", FILES, ids=_ids)
def test_hdf5_zarr_hdf5_gives_back_the_same_file(converted, fmt: int, case: tuple[str, str]):
    source, _, back = converted(fmt, *case)
    before, after = snapshot(source), snapshot(back)
    assert sorted(after) == sorted(before)
    different = {path: (before[path], after[path]) for path in before if before[path] != after[path]}
    assert not different, f"{len(different)} objects differ, first: {next(iter(different.items()))}"


# --- the Zarr copy itself ------------------------------------------------------------------------------
def _link_key(link, home: Path, zarr_side: bool) -> tuple:
    if link.file is None:
        return (link.parent, link.name, link.target, None)
    target = (home if zarr_side else home.parent) / link.file
    resolved = Path(str(target.resolve()).removesuffix(".zarr")) if zarr_side else target.resolve()
    return (link.parent, link.name, link.target, str(resolved))


@pytest.mark.parametrize("case", FILES, ids=_ids)
def test_the_zarr_copy_holds_the_same_objects_values_links_and_references(converted, fmt: int,
                                                                          case: tuple[str, str]):
    source, store, _ = converted(fmt, *case)
    with HDF5Source(source) as h, ZarrSource(store) as z:
        hs, zs = h.structure(), z.structure()
        assert sorted(zs.nodes) == sorted(hs.nodes)
        for path, node in hs.nodes.items():
            other = zs.nodes[path]
            # region references are object references with a region key in Zarr (docs/region-references.md);
            # the regions themselves are compared with the references below
            dtype = "reference" if node.dtype == "region_reference" else node.dtype
            assert (other.kind, other.attrs, other.shape, other.dtype) == \
                (node.kind, node.attrs, node.shape, dtype), path
            if node.kind == "dataset":
                _assert_same_values(h.read(path), z.read(path), path)
        assert sorted(_link_key(lk, store, True) for lk in zs.links) == \
            sorted(_link_key(lk, source, False) for lk in hs.links)
        key = lambda r: (r.source, r.via, r.target, repr(r.region), r.file)  # noqa: E731
        assert sorted(map(key, zs.references)) == sorted(map(key, hs.references))


def _assert_same_values(expected, actual, path: str) -> None:
    if isinstance(expected, np.ndarray) and expected.dtype.kind in "biufc":
        assert isinstance(actual, np.ndarray) and actual.dtype == expected.dtype, path
        assert actual.shape == expected.shape and actual.tobytes() == expected.tobytes(), path
    elif isinstance(expected, np.ndarray) and expected.dtype.names:
        assert actual.dtype.names == expected.dtype.names, path
        for name in expected.dtype.names:
            _assert_same_values(expected[name], actual[name], f"{path}.{name}")
    elif isinstance(expected, np.ndarray):
        assert np.asarray(actual).shape == expected.shape, path
        assert [_text(v) for v in np.asarray(actual).reshape(-1)] == [_text(v) for v in expected.reshape(-1)], path
    elif isinstance(expected, np.generic):
        assert np.asarray(actual).dtype == expected.dtype and np.asarray(actual).tobytes() == expected.tobytes(), path
    else:
        assert _text(actual) == _text(expected), path


def _text(value):
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return _text(value[()])
    return value


# --- hdmf-zarr 0.14 sees the same ----------------------------------------------------------------------
HDMF_ZARR_VIEW = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from hdmf.spec import NamespaceCatalog
from hdmf_zarr import NWBZarrIO
from pynwb.spec import NWBDatasetSpec, NWBGroupSpec, NWBNamespace
out = {}
for path in sys.argv[1:]:
    catalog = NamespaceCatalog(NWBGroupSpec, NWBDatasetSpec, NWBNamespace)
    NWBZarrIO.load_namespaces(catalog, path)
    seen = {"namespaces": {ns: catalog.get_namespace(ns).version for ns in catalog.namespaces}}
    with NWBZarrIO(path, "r") as io:
        try:
            seen["identifier"] = str(io.read().identifier)
        except Exception as exc:
            seen["identifier"] = None
    out[path] = seen
print(json.dumps(out))
"""


def _pynwb_identifier(path: Path) -> str | None:
    from pynwb import NWBHDF5IO

    try:
        with NWBHDF5IO(path, "r") as io:
            return str(io.read().identifier)
    except Exception:
        return None


def test_hdmf_zarr_014_reads_the_files_own_schema_from_converted_stores(converted, hdmf_zarr_014):  # noqa: F811
    cases = {str(converted(3, *case)[1]): converted(3, *case)[0] for case in FILES}
    run = subprocess.run([hdmf_zarr_014, "-c", HDMF_ZARR_VIEW, *cases], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    for store, source in cases.items():
        versions = dict(key.split("/", 1) for key in cached_specs(source))
        assert seen[store]["namespaces"] == versions, store
        assert seen[store]["identifier"] == _pynwb_identifier(source), store


# --- Zarr -> HDF5 -> Zarr, from stores hdmf-zarr wrote ---------------------------------------------------
ZARR_FOLDERS = {"hdmf_zarr_0.14": 3, "hdmf_zarr_0.13": 2}
ZARR_NAMES = ["sample", "dci", "sharded", "anm", "extlink"]  # extlink last: it links into sample


@pytest.fixture(scope="module")
def from_zarr(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """``{folder: {name: (store copy, HDF5 conversion, Zarr conversion of that)}}``, siblings side by side."""
    out: dict[str, dict[str, tuple[Path, Path, Path]]] = {}
    for folder, fmt in ZARR_FOLDERS.items():
        work = tmp_path_factory.mktemp(folder)
        out[folder] = {}
        for name in ZARR_NAMES:
            store = work / f"{name}.nwb.zarr"
            shutil.copytree(shared_data / folder / f"{name}.nwb.zarr", store)
            hdf5, again = work / f"{name}.nwb", work / f"{name}.again.nwb.zarr"
            convert(store, hdf5)
            convert(hdf5, again, zarr_format=fmt)
            out[folder][name] = (store, hdf5, again)
    return out


@pytest.mark.parametrize("folder", ZARR_FOLDERS)
@pytest.mark.parametrize("name", ZARR_NAMES)
def test_zarr_hdf5_zarr_keeps_specs_objects_and_values(from_zarr, folder: str, name: str):
    store, hdf5, again = from_zarr[folder][name]
    specs = _zarr_specs(store)
    assert specs and cached_specs(hdf5) == specs and _zarr_specs(again) == specs
    with ZarrSource(store) as a, ZarrSource(again) as b:
        sa, sb = a.structure(), b.structure()
        assert sorted(sb.nodes) == sorted(sa.nodes)
        for path, node in sa.nodes.items():
            other = sb.nodes[path]
            assert (other.kind, other.attrs, other.shape, other.dtype) == \
                (node.kind, node.attrs, node.shape, node.dtype), path
            if node.kind == "dataset":
                _assert_same_values(a.read(path), b.read(path), path)
        key = lambda r: (r.source, r.via, r.target, repr(r.region), r.file)  # noqa: E731
        assert sorted(map(key, sb.references)) == sorted(map(key, sa.references))
        links = lambda s: sorted((lk.parent, lk.name, lk.target, lk.file) for lk in s.links)  # noqa: E731
        assert links(sb) == links(sa)
