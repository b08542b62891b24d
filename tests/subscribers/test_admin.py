"""The operator's list management: its figures."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from subscribers.admin import Segment, list_stats
from tests.support.subscribers import a_mixed_list


def test_list_stats_count_by_status_reason_and_segment(sessions: sessionmaker[Session]) -> None:
    now = dt.datetime.now(dt.UTC)
    a_mixed_list(sessions, now)
    with sessions() as session:
        stats = list_stats(session, now)
    assert stats.by_status == {"pending": 2, "confirmed": 5, "unsubscribed": 1, "bounced": 1}
    assert stats.suppressed == {
        "unknown_user": 0,
        "hard_bounce": 1,
        "soft_bounces": 0,
        "complaint": 1,
        "manual": 1,
    }
    assert stats.stale_pending == 1
    # held@ is suppressed and away@ paused: neither receives the next edition.
    assert stats.segments == [
        Segment("", confirmed=2, receiving=2),
        Segment("B", confirmed=2, receiving=1),
        Segment("A|B", confirmed=1, receiving=0),
    ]
    assert stats.receiving == 3
