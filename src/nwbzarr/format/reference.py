"""In-memory form of a reference stored in Zarr: which store (``source``) and which object (``path``)."""

from __future__ import annotations

from typing import Any


class ZarrReference(dict):
    """A reference to an object by store and path, as hdmf-zarr users know it.

    A ``dict`` subclass (``source``, ``path``, ``object_id``, ``source_object_id``) so that it
    serialises to JSON as is.  ``region`` is set for region references (an nwbzarr extension,
    see ``docs/region-references.md``): a list of ``[start, stop, step]`` per dimension, or
    ``{"indices": [...]}`` for a point selection along the first axis.
    """

    def __init__(
        self,
        source: str = ".",
        path: str = "/",
        object_id: str | None = None,
        source_object_id: str | None = None,
        region: Any = None,
    ) -> None:
        super().__init__(source=source, path=path, object_id=object_id, source_object_id=source_object_id)
        if region is not None:
            self["region"] = region

    @property
    def source(self) -> str:
        return self["source"]

    @property
    def path(self) -> str:
        return self["path"]

    @property
    def object_id(self) -> str | None:
        return self.get("object_id")

    @property
    def source_object_id(self) -> str | None:
        return self.get("source_object_id")

    @property
    def region(self) -> Any:
        return self.get("region")

    @property
    def is_local(self) -> bool:
        """True when the target lives in the same store as the reference."""
        return self["source"] in (".", "", None)

    def __repr__(self) -> str:
        extra = f", region={self.region!r}" if self.region is not None else ""
        return f"ZarrReference(source={self.source!r}, path={self.path!r}{extra})"

    @classmethod
    def from_json(cls, value: Any, what: str = "reference") -> ZarrReference:
        """Build from the JSON forms the layouts use: a path string or a ``{"source", "path"}`` mapping."""
        if isinstance(value, ZarrReference):
            return value
        if isinstance(value, str):
            return cls(".", value)
        if isinstance(value, dict) and "path" in value:
            return cls(
                value.get("source") or ".",
                value["path"],
                value.get("object_id"),
                value.get("source_object_id"),
                value.get("region"),
            )
        raise ValueError(f"{what}: cannot interpret {value!r} as a reference (expected a path or source/path)")


def normalise_region(region: Any, shape: tuple[int, ...] | None = None) -> Any:
    """Turn a slice, tuple of slices or list of indices into the JSON region encoding."""
    if region is None:
        return None
    if isinstance(region, dict) and "indices" in region:
        return {"indices": [int(i) for i in region["indices"]]}
    if isinstance(region, slice):
        region = (region,)
    if isinstance(region, tuple) and all(isinstance(s, slice) for s in region):
        out = []
        for dim, sl in enumerate(region):
            length = shape[dim] if shape is not None and dim < len(shape) else None
            if length is not None:
                start, stop, step = sl.indices(length)
            else:
                start, stop, step = sl.start or 0, sl.stop, sl.step or 1
            out.append([int(start), None if stop is None else int(stop), int(step)])
        return out
    if isinstance(region, list) and all(isinstance(r, list) and len(r) == 3 for r in region):
        return region
    try:
        return {"indices": [int(i) for i in region]}
    except TypeError as exc:
        raise ValueError(f"cannot encode region {region!r}: use slices or a list of indices") from exc


def region_to_selection(region: Any) -> Any:
    """Turn the JSON region encoding back into something that indexes a numpy-like array."""
    if region is None:
        return slice(None)
    if isinstance(region, dict):
        return list(region["indices"])
    return tuple(slice(start, stop, step) for start, stop, step in region)


def hdf5_region(space: Any, shape: tuple[int, ...] | None = None) -> Any:
    """The JSON region encoding of an HDF5 region reference's selection (an h5py dataspace, as
    ``h5py.h5r.get_region`` gives it): one hyperslab block as ``[start, stop, 1]`` per dimension, several
    blocks or a point selection as ``{"indices": [...]}`` along the first axis; None for any other
    selection (all or none), which the caller spells as it needs."""
    import h5py

    kind = space.get_select_type()
    if kind == h5py.h5s.SEL_HYPERSLABS:
        blocks = space.get_select_hyper_blocklist()
        if len(blocks) == 1:
            start, end = blocks[0]
            return normalise_region(tuple(slice(int(a), int(b) + 1) for a, b in zip(start, end)), shape)
        return {"indices": sorted({int(i) for a, b in blocks for i in range(a[0], b[0] + 1)})}
    if kind == h5py.h5s.SEL_POINTS:
        return {"indices": [int(p[0]) for p in space.get_select_elem_pointlist()]}
    return None
