"""Opening a remote store takes a handful of requests (issue 16, point 4), counted by a real HTTP server on
127.0.0.1 (tests/_http_server.py): the store is opened once (namespaces load through it), the root document
is read once, cached namespaces the type map already holds are not fetched, and a second open asks no more."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from pynwb.testing.mock.base import mock_TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from _http_server import serve_directory
from nwbzarr import NWBZarrIO

# request bounds: what nwbzarr needs today plus a little slack (before this change: 25-28 to open, 32-52
# to open and read(); hdmf-zarr 0.14 took 32 to open the file)
OPEN_BOUND = {3: 2, 2: 3}  # zarr.json (v3); zarr.json 404 + .zmetadata (legacy)
READ_BOUND = {3: 9, 2: 10}  # + the 6 scalars read() needs of a mock file


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a small NWB file written by nwbzarr in both layouts."""
    root = tmp_path_factory.mktemp("open")
    for zarr_format in (3, 2):
        nwb = mock_NWBFile()
        nwb.add_acquisition(mock_TimeSeries())
        with NWBZarrIO(str(root / f"v{zarr_format}.nwb.zarr"), "w", zarr_format=zarr_format) as io:
            io.write(nwb)
    return root


def _requests(server, url: str, read: bool) -> list[str]:
    """The paths requested by one NWBZarrIO open (and ``read()``) of ``url``."""
    first = len(server.stats.paths)
    with NWBZarrIO(url, "r") as io:
        if read:
            assert io.read().identifier
    return server.stats.paths[first:]


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_open_and_read_take_a_handful_of_requests(served: Path, zarr_format: int) -> None:
    """Open: the root document (legacy: after the v3 probe, the consolidated one), nothing else: no second
    store, no cached spec of a namespace pynwb already holds. read(): only the scalar datasets besides."""
    with serve_directory(served) as server:
        url = server.url(f"v{zarr_format}.nwb.zarr")
        opened = _requests(server, url, read=False)
        read = _requests(server, url, read=True)
    assert len(opened) <= OPEN_BOUND[zarr_format], opened
    assert len(read) <= READ_BOUND[zarr_format], read
    counts = Counter(read)
    assert max(counts.values()) == 1, counts  # nothing read twice
    assert not any("/specifications/" in p for p in read)
    assert {p.rsplit("/", 1)[1] for p in opened} <= {"zarr.json", ".zmetadata"}


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_second_open_asks_no_more_than_the_first(served: Path, zarr_format: int) -> None:
    with serve_directory(served) as server:
        url = server.url(f"v{zarr_format}.nwb.zarr")
        first = _requests(server, url, read=True)
        second = _requests(server, url, read=True)
    assert len(second) <= len(first)
    assert sorted(second) == sorted(first)


@pytest.mark.parametrize("client", ["fsspec", "obstore"])
@pytest.mark.parametrize(("folder", "bound"), [("hdmf_zarr_0.14", 28), ("hdmf_zarr_0.13", 30)])
def test_hdmf_zarr_stores_open_and_read_in_few_requests(shared_data: Path, tmp_path: Path, folder: str,
                                                        bound: int, client: str) -> None:
    """The sample file written by hdmf-zarr (v3 with inline consolidated metadata; legacy with .zmetadata):
    one root document, then its 23 scalars and the arrays building its tables reads (ids, region indices),
    each once and in one batch (before: 49 and 52 requests, one round trip per table)."""
    shutil.copytree(shared_data / folder / "sample.nwb.zarr", tmp_path / "sample.nwb.zarr")
    with serve_directory(tmp_path, delay=0.02) as server:
        url = server.url("sample.nwb.zarr")
        options = {"remote_client": client}
        first = server.stats.waves
        with NWBZarrIO(url, "r", storage_options=options) as io:
            opened_waves = server.stats.waves - first
            opened = list(server.stats.paths)
            nwb = io.read()
            read_waves = server.stats.waves - first - opened_waves
            read = server.stats.paths[len(opened):]
            remote = _preloaded_values(nwb)
    assert len(opened) <= 2 and opened_waves <= 2
    assert len(read) <= bound, read
    assert max(Counter(read).values()) == 1
    # the 23 reads in batches of at most async.concurrency (10); before, one round trip per table: 14
    assert read_waves <= 4, read_waves
    with NWBZarrIO(tmp_path / "sample.nwb.zarr", "r") as io:
        local = _preloaded_values(io.read())
    assert remote == local


def _preloaded_values(nwb) -> dict:
    """What the batch read ahead: table ids, region indices, the file's dates and experimenters."""
    return {"units": list(nwb.units.id[:]), "trials": list(nwb.trials.id[:]),
            "es_electrodes": list(nwb.acquisition["es"].electrodes.data[:]),
            "units_electrodes": [list(e.index) for e in nwb.units["electrodes"][:]],
            "dates": list(nwb.file_create_date), "experimenter": list(nwb.experimenter)}
