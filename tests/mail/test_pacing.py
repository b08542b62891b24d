"""The token bucket that paces a backend's messages."""

from __future__ import annotations

import pytest

from worker.mail.pacing import RateLimit


def test_rate_limit_paces_a_burst_then_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limit = RateLimit(10, burst=3, clock=lambda: now[0], sleep=sleep)
    assert list(limit.paced(range(5))) == [0, 1, 2, 3, 4]
    assert slept == pytest.approx([0.1, 0.1])  # a burst of 3, then 10 a second
    now[0] += 1.0  # a quiet second refills the bucket up to the burst
    slept.clear()
    list(limit.paced(range(3)))
    assert slept == []
