"""DeleteBatches: the queue that lets concurrent chunk deletes of one container share one rebuild."""

from __future__ import annotations

import pytest

from nwbzarr.storage._deletes import DeleteBatches


def test_first_delete_leads_and_a_drain_applies_everything_queued() -> None:
    batches = DeleteBatches()
    first, lead_first = batches.enqueue("a/c.h5", "0.0", "a/c/0/0")
    second, lead_second = batches.enqueue("a/c.h5", "1.0", "a/c/1/0")
    assert (lead_first, lead_second) == (True, False)
    applied = []
    batches.drain("a/c.h5", lambda batch: applied.append(sorted(batch)))
    assert applied == [["0.0", "1.0"]]
    assert first.result() is None and second.result() is None
    assert len(batches) == 0
    assert batches.enqueue("a/c.h5", "2.0", "a/c/2/0")[1] is True  # leadership was given up


def test_a_cancelled_waiter_does_not_keep_the_others_waiting() -> None:
    batches = DeleteBatches()
    cancelled, _ = batches.enqueue("c", "0", "k0")
    other, _ = batches.enqueue("c", "1", "k1")
    assert cancelled.cancel()
    batches.drain("c", lambda batch: None)
    assert other.result() is None


def test_a_failed_batch_fails_every_waiter_and_abandon_fails_the_queue() -> None:
    batches = DeleteBatches()
    one, _ = batches.enqueue("c", "0", "k0")
    batches.drain("c", lambda batch: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        one.result()
    two, lead = batches.enqueue("c", "1", "k1")
    assert lead
    batches.abandon("c", TimeoutError("lock"))
    with pytest.raises(TimeoutError):
        two.result()
    assert len(batches) == 0
