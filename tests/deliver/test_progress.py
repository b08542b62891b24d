"""A send's progress: when to measure it, how far it is, how fast it goes."""

from __future__ import annotations

from worker.deliver.editions import Counts
from worker.deliver.progress import EditionProgress, SendProgress


def counts(
    queued: int, sent: int, deferred: int = 0, failed: int = 0, suppressed: int = 0
) -> Counts:
    """An edition's counts with these deliveries."""
    return Counts(1, "2026-W48", "sending", queued, sent, deferred, failed, suppressed, None, None)


def test_a_measurement_is_due_every_so_often_from_the_start() -> None:
    meter = SendProgress(started=100.0, every=5.0)
    assert not meter.due(100.0)
    assert not meter.due(104.9)
    assert meter.due(105.0)
    assert not meter.due(109.0)  # five seconds from the last measurement, not the start
    assert meter.due(110.5)
    assert not meter.due(115.0)
    assert meter.due(115.5)


def test_the_rate_is_this_runs_sends_per_second_since_its_start() -> None:
    meter = SendProgress(started=100.0, every=30.0)
    assert meter.rate(600, 130.0) == 20.0
    assert meter.rate(0, 130.0) == 0.0
    assert meter.rate(5, 100.0) > 1e6  # at the start: no division by zero


def test_an_editions_progress_counts_settled_deliveries_of_all() -> None:
    meter = SendProgress(started=0.0, every=0.5)
    # 10 earlier sends and this run's 40; deferred ones are still to do.
    progress = meter.of_edition(counts(40, 50, deferred=5, failed=3, suppressed=2), 40, 8.0)
    assert progress == EditionProgress(done=55, total=100, rate=5.0)
