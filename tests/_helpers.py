"""Helpers shared by test modules (importable: ``tests`` is on pytest's pythonpath)."""

from __future__ import annotations

import numpy as np
from hdmf.build import DatasetBuilder, GroupBuilder, ReferenceBuilder


def assert_containers_equal(a, b) -> None:
    """hdmf's container equality, values included."""
    from hdmf.testing import TestCase

    TestCase().assertContainerEqual(a, b, ignore_hdmf_attrs=True)


SCALAR_REF_TARGETS = {"a_ref_to_group": "z_group/sub", "a_ref_to_dataset": "z_group/values", "m_ref_to_root_ds": "top"}


def scalar_reference_builders() -> GroupBuilder:
    """Targets sorted after the references that point at them, nested and at the root."""
    root = GroupBuilder("root")
    group = GroupBuilder("z_group")
    root.set_group(group)
    sub = GroupBuilder("sub", attributes={"note": "target"})
    group.set_group(sub)
    values = DatasetBuilder("values", data=np.arange(4, dtype="int32"))
    group.set_dataset(values)
    top = DatasetBuilder("top", data=np.float64(1.5))
    root.set_dataset(top)
    by_path = {"z_group/sub": sub, "z_group/values": values, "top": top}
    for name, target in SCALAR_REF_TARGETS.items():
        root.set_dataset(DatasetBuilder(name, data=ReferenceBuilder(by_path[target]), dtype="object"))
    return root
