"""Rate limits kept in the store, so that every web process counts together.

A limit allows ``limit`` hits of a key (``client:203.0.113.7``,
``address:ada@example.com``) within a sliding ``window``. Only accepted
requests are counted: a refused one stores nothing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from worker.store.models import RateHit

# Hits older than this are of no limit's concern any more.
KEEP = dt.timedelta(days=2)


def address_key(email: str) -> str:
    """The key of the subscribe form's limit on mails to ``email`` (stored form)."""
    return f"address:{email}"


def allow(
    session: Session, key: str, *, limit: int, window: dt.timedelta, now: dt.datetime
) -> bool:
    """Whether ``key`` may have one more hit now; if so, the hit is counted."""
    used = session.scalar(
        select(func.count())
        .select_from(RateHit)
        .where(RateHit.key == key, RateHit.at > now - window)
    )
    if (used or 0) >= limit:
        return False
    session.add(RateHit(key=key, at=now))
    return True


def retry_after(
    session: Session, key: str, *, window: dt.timedelta, now: dt.datetime
) -> dt.timedelta:
    """How long until ``key`` may have a hit again under a limit of
    ``window``: until the oldest hit it counts leaves it."""
    oldest = session.scalar(
        select(func.min(RateHit.at)).where(RateHit.key == key, RateHit.at > now - window)
    )
    return max(oldest + window - now, dt.timedelta(0)) if oldest else dt.timedelta(0)


def prune(session: Session, now: dt.datetime) -> int:
    """Forget hits older than any window; returns how many. The forms that
    mail (subscribe, ask for a vote link) call it with each request they
    count (one indexed delete), so the table holds about two days of hits."""
    result = session.execute(delete(RateHit).where(RateHit.at < now - KEEP))
    return int(result.rowcount)  # type: ignore[attr-defined]
