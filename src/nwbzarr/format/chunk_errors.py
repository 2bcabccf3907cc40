"""Which chunk broke a read, on a regular chunk grid: the chunks the selection touches are decoded one by one
and the first that fails, or decodes to another size than its array's metadata says, is named.

Called by ``corrupt.read_error`` only after a read has failed, so reads that succeed pay nothing for it.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from zarr.core.buffer import default_buffer_prototype

from .base import FormatError
from .chunks import _array_config, chunk_spec
from .corrupt import CorruptChunkError, store_name

MAX_CHUNKS_SEARCHED = 10_000


class ChunkError(CorruptChunkError):
    """A stored chunk that cannot be decoded to what its array's metadata says; names store, dataset and key."""


async def locate_bad_chunk(array: Any, selection: Any, where: str) -> ChunkError | None:
    """The first stored chunk touched by ``selection`` that does not decode to its chunk shape, as an error
    naming ``where`` and the chunk key (None when every one decodes)."""
    from .legacy_codecs import normalise_selection

    metadata = array.metadata
    shape = tuple(metadata.shape)
    try:
        chunks = tuple(metadata.chunks)
        box, _ = normalise_selection(selection, shape, where)
    except Exception:  # noqa: BLE001 - an irregular grid or a selection we do not model: nothing to add
        return None
    ranges = [range(lo // c, (hi - 1) // c + 1) if hi > lo else range(0) for (lo, hi), c in zip(box, chunks)]
    prototype = default_buffer_prototype()
    store_path = array.store_path
    for coords in itertools.islice(itertools.product(*ranges), MAX_CHUNKS_SEARCHED):
        key = metadata.encode_chunk_key(coords)
        full = f"{store_path.path}/{key}" if store_path.path else key
        raw = await store_path.store.get(full, prototype=prototype)
        if raw is None:
            continue
        reason = await _decode_problem(array, coords, raw, prototype)
        if reason is not None:
            return ChunkError(f"{store_name(store_path.store)}: dataset {where}, chunk {full!r}: {reason}")
    return None


async def _decode_problem(array: Any, coords: tuple[int, ...], raw: Any, prototype: Any) -> str | None:
    spec = chunk_spec(array.metadata, coords, _array_config(array), prototype)
    try:
        decoded = list(await array.codec_pipeline.decode([(raw, spec)]))[0]
    except FormatError as exc:  # nwbzarr's own checks (sizes, pickles) say what is wrong
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any codec error is the answer
        return f"cannot be decoded ({type(exc).__name__}: {exc})"
    size = decoded.as_numpy_array().size if decoded is not None else 0
    expected = math.prod(spec.shape)
    if size != expected:
        return f"decodes to {size} elements where the array's metadata makes a chunk {expected}"
    return None
