"""nwbzarr where POSIX-only modules are missing (Windows has no ``fcntl``, ``resource`` or ``fork``): every
module imports, a representative set of the suite passes with ``fcntl`` and ``resource`` blocked, and the
one feature that needs an OS file lock says what to use instead. Each check runs in a fresh interpreter
whose ``sys.modules`` blocks the modules before anything is imported."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BLOCK_POSIX = textwrap.dedent("""
    import os, sys
    sys.modules["fcntl"] = None      # import fcntl -> ImportError, as on Windows
    sys.modules["resource"] = None
""")
# representative and not about POSIX: stores, both layouts, NWB round trips, URLs, errors, structure tools
REPRESENTATIVE = ["tests/storage/test_sqlite.py", "tests/storage/test_helpers_url.py",
                  "tests/backend/test_roundtrip_nwb.py", "tests/format/test_v3_layout.py",
                  "tests/format/test_legacy_write.py", "tests/test_errors.py", "tests/structure/test_graph.py"]


def run_blocked(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_POSIX + textwrap.dedent(code)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_every_module_imports_without_posix_only_modules_and_calls() -> None:
    proc = run_blocked("""
        import asyncio  # the standard library's own POSIX event loop (3.12's calls os.sysconf at import)
        for name in ("register_at_fork", "fork", "pread", "sysconf", "O_CLOEXEC"):
            delattr(os, name)  # called at import time they would fail on Windows too
        try:
            import fcntl
        except ImportError:
            pass
        else:
            raise SystemExit("fcntl is not blocked")
        import importlib, pkgutil, nwbzarr
        failed = []
        names = [m.name for m in pkgutil.walk_packages(nwbzarr.__path__, "nwbzarr.")]
        for name in names:
            try:
                importlib.import_module(name)
            except Exception as exc:
                failed.append(f"{name}: {exc!r}")
        print(len(names), "modules")
        print("\\n".join(failed))
    """)
    assert proc.returncode == 0, proc.stderr
    count, _, failures = proc.stdout.partition(" modules\n")
    assert int(count) > 100 and failures.strip() == ""


def test_the_file_lock_feature_without_os_locks_names_what_to_use(tmp_path: Path) -> None:
    """Without fcntl outside Windows there is no OS file lock: a writable container store with
    ``lock="file"`` refuses at once, ``lock=None`` works, and the writer lock falls back to filelock's
    PID-marker lock, still refusing a second writer."""
    proc = run_blocked(f"""
        import warnings
        warnings.simplefilter("ignore")
        import numpy as np, zarr
        from nwbzarr.storage import H5ContainerStore
        from nwbzarr.storage.locks import StoreLockedError, WriterLock
        root = {str(tmp_path)!r}
        try:
            H5ContainerStore(root + "/a.h5c")
        except RuntimeError as exc:
            print("refused:", exc)
        arr = zarr.create_array(H5ContainerStore(root + "/b.h5c", lock=None), name="x", shape=(8,), chunks=(2,),
                                dtype="i4")
        arr[...] = np.arange(8)
        print("read:", zarr.open_array(H5ContainerStore(root + "/b.h5c", read_only=True), path="x")[...].tolist())
        first = WriterLock(root + "/b.h5c").acquire()
        try:
            WriterLock(root + "/b.h5c").acquire()
        except StoreLockedError:
            print("second writer refused")
        first.release()
        WriterLock(root + "/b.h5c").acquire().release()
        print("free again")
    """)
    assert proc.returncode == 0, proc.stderr
    refused = re.search(r"refused: (.*)", proc.stdout)
    assert refused and "lock=None" in refused.group(1) and "fcntl" in refused.group(1)
    assert "read: [0, 1, 2, 3, 4, 5, 6, 7]" in proc.stdout
    assert "second writer refused" in proc.stdout and "free again" in proc.stdout


def test_a_representative_set_of_the_suite_passes_without_fcntl() -> None:
    proc = run_blocked(f"""
        import pytest
        sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:xdist", *{REPRESENTATIVE!r}]))
    """, timeout=900)
    tail = proc.stdout[-3000:]
    assert proc.returncode == 0, tail + proc.stderr[-3000:]
    passed = re.search(r"(\d+) passed", tail)
    assert passed and int(passed.group(1)) > 100, tail
    assert not re.search(r"\d+ (failed|error|skipped)", tail), tail
