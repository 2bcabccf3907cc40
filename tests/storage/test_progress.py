"""``storage.progress``: one policy for every bar (True / False / None = when stderr is a terminal, and
``TQDM_DISABLE``), and the HDF5-sharded store's consolidate drawing its bar of containers to 100%."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import given
from hypothesis import strategies as st

from nwbzarr.storage.h5container import H5ContainerStore
from nwbzarr.storage.progress import advance, env_disabled, grow, note, progress_bar, tqdm_disable

FALSE_WORDS = ["", "0", "false", "no", "off", "False", " OFF "]


@contextmanager
def tqdm_env(value: str | None):
    saved = os.environ.pop("TQDM_DISABLE", None)
    if value is not None:
        os.environ["TQDM_DISABLE"] = value
    try:
        yield
    finally:
        os.environ.pop("TQDM_DISABLE", None)
        if saved is not None:
            os.environ["TQDM_DISABLE"] = saved


def test_policy_without_the_environment_variable() -> None:
    with tqdm_env(None):
        assert tqdm_disable(True) is False and tqdm_disable(False) is True and tqdm_disable(None) is None


@given(st.one_of(st.sampled_from(FALSE_WORDS + ["1", "true", "yes", "on"]),
                 st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=8)))
def test_tqdm_disable_with_any_value_but_a_false_word_turns_every_bar_off(value: str) -> None:
    with tqdm_env(value):
        off = value.strip().lower() not in {w.strip().lower() for w in FALSE_WORDS}
        assert env_disabled() is off
        assert tqdm_disable(True) is off
        assert tqdm_disable(False) is True
        assert tqdm_disable(None) is (True if off else None)


@pytest.mark.parametrize(("value", "same_as"), [(1, True), (0, False), ("", False), ("yes", True)])
def test_other_progress_values_count_as_their_truth(value, same_as, capsys) -> None:
    with tqdm_env(None):
        assert tqdm_disable(value) is tqdm_disable(same_as)
        note(value, "line")
    assert capsys.readouterr().err == ("line\n" if same_as else "")


def test_forced_bar_with_a_growing_total_ends_at_100_percent(capsys) -> None:
    with tqdm_env(None), progress_bar(True, "work", unit="object") as bar:
        grow(bar, 3)
        advance(bar, 2)
        grow(bar, 2)
        advance(bar, 3)
    err = capsys.readouterr().err
    assert re.split(r"[\r\n]", err.strip())[-1].startswith("work: 100%|") and "5/5" in err


def test_auto_bar_is_off_when_stderr_is_not_a_terminal(capsys) -> None:
    with tqdm_env(None), progress_bar(None, "work", total=4) as bar:
        advance(bar, 4)
    assert capsys.readouterr().err == ""


def test_notes_go_to_stderr_unless_quiet(capsys) -> None:
    note(None, "converting a -> b")
    note(False, "never shown")
    captured = capsys.readouterr()
    assert captured.err == "converting a -> b\n" and captured.out == ""


def _loose_store(root: Path) -> tuple[H5ContainerStore, np.ndarray]:
    store = H5ContainerStore(root, write_direct=False)
    data = np.arange(64 * 64, dtype="i4").reshape(64, 64)
    zarr.create_array(store, name="v", shape=data.shape, chunks=(8, 8), dtype=data.dtype)[...] = data
    return store, data


def test_consolidate_draws_one_bar_of_containers_to_100_percent(tmp_path, capsys) -> None:
    store, data = _loose_store(tmp_path / "s")
    with tqdm_env(None):
        report = store.consolidate(progress=True)
    err = capsys.readouterr().err
    last = re.split(r"[\r\n]", err.strip())[-1]
    assert last.startswith("consolidate: 100%|") and f"{report.containers}/{report.containers}" in last
    np.testing.assert_array_equal(zarr.open_array(store, path="v")[...], data)


@pytest.mark.parametrize("progress", [False, None])
def test_consolidate_quiet_or_piped_prints_nothing(tmp_path, capsys, progress) -> None:
    store, _ = _loose_store(tmp_path / "s")
    with tqdm_env(None):
        assert store.consolidate(progress=progress).containers > 0
    assert capsys.readouterr().err == ""


def test_container_verify_counts_arrays_as_they_are_checked(tmp_path, capsys) -> None:
    store, _ = _loose_store(tmp_path / "s")
    store.consolidate()
    with tqdm_env(None):
        assert store.verify(progress=True).ok
    last = re.split(r"[\r\n]", capsys.readouterr().err.strip())[-1]
    assert last.startswith("verify: 100%|") and "1/1" in last
