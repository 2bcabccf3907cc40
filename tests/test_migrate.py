"""``nwbzarr migrate``: node-level, chunk-by-chunk conversion between the legacy and current layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO, TimeSeries
from pynwb.testing.mock.file import mock_NWBFile
from typer.testing import CliRunner

from _helpers import assert_containers_equal
from _nwb_factory import broad_nwbfile
from nwbzarr import NWBZarrIO
from nwbzarr.cli import app
from nwbzarr.format.legacy import LegacyLayout
from nwbzarr.format.v3 import CurrentLayout
from nwbzarr.migrate import MigrationError, block_selections, migrate


@pytest.mark.parametrize("name", ["sample", "dci", "sharded"])
def test_every_fixture_survives_v2_v3_v2(shared_data: Path, tmp_path: Path, name: str):
    src = shared_data / "hdmf_zarr_0.13" / f"{name}.nwb.zarr"
    v3, v2 = tmp_path / f"{name}.v3.zarr", tmp_path / f"{name}.v2.zarr"
    first = migrate(src, v3, "v3", progress=False)
    second = migrate(v3, v2, "v2", progress=False)
    assert first.verified and first.ok and second.verified and second.ok, (first, second)
    for path, layout in ((v3, CurrentLayout), (v2, LegacyLayout)):
        with NWBZarrIO(path, "r") as zio, NWBHDF5IO(shared_data / "hdf5" / f"{name}.nwb", "r") as hio:
            assert isinstance(zio.layout, layout)
            assert_containers_equal(zio.read(), hio.read())


def test_anm_survives_v2_v3_v2(shared_data: Path, tmp_path: Path):
    src = shared_data / "hdmf_zarr_0.13" / "anm.nwb.zarr"
    assert migrate(src, tmp_path / "a.v3.zarr", progress=False).ok
    assert migrate(tmp_path / "a.v3.zarr", tmp_path / "a.v2.zarr", progress=False).ok
    with NWBZarrIO(tmp_path / "a.v2.zarr", "r") as a, \
            NWBZarrIO(shared_data / "hdmf_zarr_0.14" / "anm.nwb.zarr", "r") as b:
        assert_containers_equal(a.read(), b.read())


def test_extlink_keeps_its_external_links_beside_the_source(shared_data: Path, tmp_path: Path):
    for name in ("sample", "extlink"):
        assert migrate(shared_data / "hdmf_zarr_0.13" / f"{name}.nwb.zarr", tmp_path / f"{name}.nwb.zarr",
                       progress=False).ok
    with NWBZarrIO(tmp_path / "extlink.nwb.zarr", "r") as zio, \
            NWBHDF5IO(shared_data / "hdf5" / "extlink.nwb", "r") as hio:
        assert_containers_equal(zio.read(), hio.read())


def test_current_fixtures_migrate_to_legacy(shared_data: Path, tmp_path: Path):
    report = migrate(shared_data / "hdmf_zarr_0.14" / "sharded.nwb.zarr", tmp_path / "s.zarr", progress=False)
    assert report.source_layout == "v3" and report.target_layout == "legacy" and report.ok
    with NWBZarrIO(tmp_path / "s.zarr", "r") as zio, NWBHDF5IO(shared_data / "hdf5" / "sharded.nwb", "r") as hio:
        assert_containers_equal(zio.read(), hio.read())


def test_broad_file_both_ways_without_shared_data(tmp_path: Path):
    original = broad_nwbfile()
    legacy = tmp_path / "broad.v2.zarr"
    with NWBZarrIO(legacy, "w", zarr_format=2) as io:
        io.write(original)
    assert migrate(legacy, tmp_path / "broad.v3.zarr", progress=False).ok
    assert migrate(tmp_path / "broad.v3.zarr", tmp_path / "back.v2.zarr", progress=False).ok
    for path in ("broad.v3.zarr", "back.v2.zarr"):
        with NWBZarrIO(tmp_path / path, "r") as io:
            assert_containers_equal(original, io.read())


def _multi_chunk_store(tmp_path: Path) -> tuple[Path, np.ndarray]:
    from nwbzarr.backend.dataio import ZarrDataIO

    values = np.arange(50_000, dtype="float64").reshape(5000, 10)
    nwb = mock_NWBFile()
    nwb.add_acquisition(TimeSeries(name="big", data=ZarrDataIO(values, chunks=(100, 5)), unit="m", rate=1.0))
    path = tmp_path / "big.v2.zarr"
    with NWBZarrIO(path, "w", zarr_format=2) as io:
        io.write(nwb)
    return path, values


def test_arrays_stream_in_chunk_aligned_blocks(tmp_path: Path, monkeypatch):
    from nwbzarr import migrate as module

    path, values = _multi_chunk_store(tmp_path)
    seen: list[tuple] = []
    original = module._Copier.read_block

    def recording(self, node, array, sel):
        if node.path == "acquisition/big/data":
            seen.append(sel)
        return original(self, node, array, sel)

    monkeypatch.setattr(module._Copier, "read_block", recording)
    report = migrate(path, tmp_path / "big.v3.zarr", block_bytes=64 << 10, progress=False)
    assert report.ok
    copied = seen[: len(seen) // 2]  # the first half copies, the second half verifies
    assert len(copied) == 8  # 4 blocks of 16 chunk rows x 2 chunk columns
    for sel in copied:
        rows, cols = sel
        assert rows.start % 100 == 0 and cols.start % 5 == 0 and (rows.stop - rows.start) * 5 * 8 <= 64 << 10
    with NWBZarrIO(tmp_path / "big.v3.zarr", "r") as io:
        np.testing.assert_array_equal(io.read().acquisition["big"].data[:], values)


def test_block_selections_cover_the_array_once():
    shape, chunks = (1003, 7, 5), (10, 3, 5)
    hits = np.zeros(shape, dtype=int)
    for sel in block_selections(shape, chunks, 8, 4096):
        hits[sel] += 1
    assert (hits == 1).all()
    assert list(block_selections((0, 4), (10, 4), 8, 4096)) == []


def test_verification_catches_a_corrupted_copy(tmp_path: Path, monkeypatch):
    path, _ = _multi_chunk_store(tmp_path)
    original = CurrentLayout.encode_array_values

    def corrupting(self, spec, values):
        out = original(self, spec, values)
        return out + 1 if spec.kind == "numeric" and spec.dtype.kind == "f" else out

    monkeypatch.setattr(CurrentLayout, "encode_array_values", corrupting)
    report = migrate(path, tmp_path / "bad.v3.zarr", progress=False)
    assert not report.ok and report.verified is False
    assert any("/acquisition/big/data: data checksum differs" in m for m in report.mismatches)
    assert "VERIFICATION FAILED" in str(report)


def test_refuses_existing_targets_and_unreadable_datasets(tmp_path: Path):
    path, _ = _multi_chunk_store(tmp_path)
    (tmp_path / "exists").mkdir()
    with pytest.raises(FileExistsError):
        migrate(path, tmp_path / "exists", progress=False)
    with pytest.raises(MigrationError, match="is the source itself"):
        migrate(path, path, progress=False, overwrite=True)
    (path / "acquisition/big/data/3.1").write_bytes(b"garbage")
    with pytest.raises(MigrationError, match="/acquisition/big/data"):
        migrate(path, tmp_path / "out.zarr", progress=False)


def test_cli_migrate(tmp_path: Path):
    path, values = _multi_chunk_store(tmp_path)
    result = CliRunner().invoke(app, ["migrate", str(path), str(tmp_path / "cli.zarr"), "--to", "v3"])
    assert result.exit_code == 0, result.output
    assert "verified: same nodes" in result.output
    again = CliRunner().invoke(app, ["migrate", str(tmp_path / "cli.zarr"), str(tmp_path / "cli2.zarr")])
    assert again.exit_code == 0 and "(legacy)" in again.output
    with NWBZarrIO(tmp_path / "cli2.zarr", "r") as io:
        assert isinstance(io.layout, LegacyLayout)
        np.testing.assert_array_equal(io.read().acquisition["big"].data[:], values)
