"""Votes from the email: one per subscriber per tool, a later one replaces
it; only subscribers vote (confirmed, their address not suppressed)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from worker.domain.states import SubscriberStatus
from worker.domain.verdicts import Verdict
from worker.store import upsert
from worker.store.models import Subscriber, Suppression, Tool, Vote
from worker.store.outbox import record_vote_cast

# Who may vote: a confirmed subscriber whose address is not suppressed.
_voter = and_(
    Subscriber.status == SubscriberStatus.CONFIRMED,
    ~exists().where(Suppression.email == Subscriber.email),
)


def may_vote(session: Session, subscriber_id: int) -> bool:
    """Whether ``subscriber_id`` may vote: a confirmed subscriber whose
    address is not suppressed. Someone who left (or whose mail bounces, or
    who complained) keeps vote links in old mail, but is no longer a
    member of the community the Community row speaks for."""
    return bool(session.scalar(select(exists().where(Subscriber.id == subscriber_id, _voter))))


def voter(session: Session, email: str) -> Subscriber | None:
    """The subscriber of ``email`` (stored form) if they may vote (as
    :func:`may_vote` says), else None."""
    return session.scalar(select(Subscriber).where(Subscriber.email == email, _voter))


def record_vote(
    session: Session, subscriber_id: int, tool_slug: str, verdict: Verdict, now: dt.datetime
) -> bool:
    """Record ``verdict`` on the tool ``tool_slug``, replacing the
    subscriber's earlier vote on it, and its ``vote.cast`` webhook event;
    False for an unknown tool."""
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
    record_vote_cast(session, subscriber_id, tool_id, tool_slug, verdict.value, now)
    return True
