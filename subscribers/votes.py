"""Votes from the email: one per subscriber per tool, a later one replaces it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.domain.verdicts import Verdict
from worker.store import upsert
from worker.store.models import Tool, Vote


def record_vote(
    session: Session, subscriber_id: int, tool_slug: str, verdict: Verdict, now: dt.datetime
) -> bool:
    """Record ``verdict`` on the tool ``tool_slug``, replacing the
    subscriber's earlier vote on it; False for an unknown tool."""
    tool_id = session.scalar(select(Tool.id).where(Tool.slug == tool_slug))
    if tool_id is None:
        return False

    statement = upsert(session, Vote).values(
        tool_id=tool_id, subscriber_id=subscriber_id, verdict=verdict.value, created_at=now
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["tool_id", "subscriber_id"],
            set_={
                "verdict": statement.excluded.verdict,
                "created_at": statement.excluded.created_at,
            },
        )
    )
    return True
