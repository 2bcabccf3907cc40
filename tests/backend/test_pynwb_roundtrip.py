"""pynwb's own integration round trips (``test_roundtrip``, ``test_roundtrip_export``) with NWBZarrIO.

Every test class of pynwb's sdist ``tests/integration`` built on ``pynwb.testing``'s round-trip mixins runs
with NWBZarrIO in place of NWBHDF5IO, default ``write_args``, and validation left on (validating the Zarr
store through ``pynwb.validate(io=NWBZarrIO(path, "r"))``). Each pynwb test is one pytest test here.
"""

from __future__ import annotations

import pytest

from _pynwb_roundtrip import IndexUnreachable, roundtrip_cases, run_case, sdist_dir, zarr_patches
from conftest import _exclusive_lock


def _collect() -> tuple[dict, str | None]:
    try:
        return roundtrip_cases(sdist_dir(_exclusive_lock)), None
    except IndexUnreachable as exc:
        return {}, str(exc)


CASES, UNREACHABLE = _collect()


@pytest.mark.skipif(UNREACHABLE is not None, reason=f"pynwb's sdist could not be fetched: {UNREACHABLE}")
@pytest.mark.parametrize("test_id", sorted(CASES) or ["<sdist unavailable>"])
def test_pynwb_roundtrip(test_id: str, monkeypatch, tmp_path) -> None:
    cls, method = CASES[test_id]
    for owner, name, value in zarr_patches(cls):  # NWBZarrIO in place of NWBHDF5IO
        monkeypatch.setattr(owner, name, value)
    monkeypatch.chdir(tmp_path)  # the mixins write their files to the working directory
    result = run_case(cls, method)
    problems = result.errors + result.failures
    if problems:
        pytest.fail("\n".join(text for _, text in problems), pytrace=False)
    if result.skipped:
        pytest.skip(result.skipped[0][1])
    assert result.testsRun == 1
