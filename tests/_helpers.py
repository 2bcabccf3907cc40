"""Helpers shared by test modules (importable: ``tests`` is on pytest's pythonpath)."""

from __future__ import annotations


def assert_containers_equal(a, b) -> None:
    """hdmf's container equality, values included."""
    from hdmf.testing import TestCase

    TestCase().assertContainerEqual(a, b, ignore_hdmf_attrs=True)
