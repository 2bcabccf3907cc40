"""Generate ``cbi_h5_nested/``: a tiny zarr v2 store in the layout of CBI-PITT's ``H5_Nested_Store``.

Format (from its description): a nested ("/") zarr v2 directory store whose chunk ``a/b/.../x/y/z`` is
kept in the HDF5 file ``a/b/.../x.h5`` as a *scalar opaque* dataset (``np.void(chunk bytes)``) named
``"y.z"``; metadata (``.zgroup``, ``.zarray``, ``.zattrs``) stays as plain files, and chunks not yet
containerised stay loose. Run ``python tests/storage/data/make_cbi_h5_nested.py`` to regenerate.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import zarr

OUT = Path(__file__).with_name("cbi_h5_nested")
ARRAYS = {"vol/3d": ((5, 6, 7), (2, 3, 4)), "vol/4d": ((3, 4, 5, 6), (2, 2, 2, 3))}
LOOSE_KEYS = {"vol/4d/1/1/2/1"}  # one chunk left as a plain file, as the store allows


def expected(name: str) -> np.ndarray:
    """The values the fixture array ``name`` holds."""
    shape, _ = ARRAYS[name]
    return (np.arange(np.prod(shape), dtype="<u2") * 7 % 65521).reshape(shape)


def _cbi_location(key: str) -> tuple[str, str]:
    """CBI container file and dataset name of a nested chunk key (last three components)."""
    head, first, last = key.rsplit("/", 2)
    return head + ".h5", f"{first}.{last}"


def build(out: Path = OUT) -> None:
    """Encode the arrays with zarr (v2, '/' separator) and lay the chunks out as CBI does."""
    mem = zarr.storage.MemoryStore()
    root = zarr.open_group(mem, mode="w", zarr_format=2)
    for name, (shape, chunks) in ARRAYS.items():
        arr = root.create_array(name, shape=shape, chunks=chunks, dtype="<u2", chunk_key_encoding={"name": "v2", "separator": "/"})
        arr[...] = expected(name)
    shutil.rmtree(out, ignore_errors=True)
    for key, buf in sorted(mem._store_dict.items()):
        data = buf.to_bytes()
        if key.rsplit("/", 1)[-1].startswith(".") or key in LOOSE_KEYS:
            (out / key).parent.mkdir(parents=True, exist_ok=True)
            (out / key).write_bytes(data)
            continue
        container, dataset = _cbi_location(key)
        (out / container).parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(out / container, "a") as f:
            f.create_dataset(dataset, data=np.void(data))


if __name__ == "__main__":
    build()
