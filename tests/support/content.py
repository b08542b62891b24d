"""Content an editor manages, in a test's store: a junk launch from a
feed beside the sample week, what each table holds, and what a week's
edition shows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from worker.domain.weeks import Week
from worker.store.models import (
    Base,
    Edition,
    EditionSegment,
    Feed,
    Subscriber,
    Tool,
    Vote,
)

W48_THURSDAY = dt.date(2026, 11, 26)


def add_launch(
    sessions: sessionmaker[Session],
    slug: str,
    name: str,
    launched_on: dt.date = W48_THURSDAY,
    *,
    category: str = "Data & Analytics",
    feed_url: str | None = "https://junk.example/feed.xml",
) -> int:
    """A tool launched on ``launched_on`` (from a feed, unless
    ``feed_url`` is None); its id."""
    with sessions.begin() as session:
        feed = None
        if feed_url is not None:
            feed = session.scalar(select(Feed).where(Feed.url == feed_url))
            if feed is None:
                feed = Feed(url=feed_url, title="Junk Feed")
                session.add(feed)
        tool = Tool(slug=slug, name=name, category=category, launched_on=launched_on, feed=feed)
        session.add(tool)
        session.flush()
        return tool.id


def tool_id(sessions: sessionmaker[Session], slug: str) -> int:
    with sessions() as session:
        found = session.scalar(select(Tool.id).where(Tool.slug == slug))
    assert found is not None, slug
    return found


def vote_on(sessions: sessionmaker[Session], slug: str, *verdicts: str) -> None:
    """A community vote per verdict on the tool ``slug``, each by a new voter."""
    with sessions.begin() as session:
        tool = session.scalars(select(Tool).where(Tool.slug == slug)).one()
        for n, verdict in enumerate(verdicts):
            voter = Subscriber(email=f"voter-{slug}-{n}@example.com", status="confirmed")
            session.add(voter)
            session.flush()
            session.add(Vote(tool_id=tool.id, subscriber_id=voter.id, verdict=verdict))


def row_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    """How many rows each table of the store holds."""
    with sessions() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def shown(sessions: sessionmaker[Session], week: Week) -> str:
    """The text part of ``week``'s edition for every category (the full
    digest); "" when it has none."""
    with sessions() as session:
        text = session.scalar(
            select(EditionSegment.text)
            .join(Edition)
            .where(Edition.week == str(week), EditionSegment.segment == "")
        )
    return text or ""


def renders(sessions: sessionmaker[Session], week: Week) -> dict[str, tuple[int, str, str]]:
    """Each segment of ``week``'s edition: its row id, HTML and text."""
    with sessions() as session:
        rows = session.execute(
            select(
                EditionSegment.segment, EditionSegment.id, EditionSegment.html, EditionSegment.text
            )
            .join(Edition)
            .where(Edition.week == str(week))
        )
        return {segment: (row_id, html, text) for segment, row_id, html, text in rows}


def edition_state(sessions: sessionmaker[Session], week: Week) -> tuple[str, bool] | None:
    """``week``'s edition's status and whether it is approved, or None."""
    with sessions() as session:
        edition = session.scalar(select(Edition).where(Edition.week == str(week)))
        return None if edition is None else (edition.status, edition.approved_at is not None)
