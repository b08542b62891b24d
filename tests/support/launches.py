"""A week flooded with launches, in a test's store: what DIGEST_MAX_LAUNCHES
is for."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from worker.store.models import Feed, Tool

FLOODED = "Developer Tools"
STEADY = ("Design", "Productivity")
W48_MONDAY = dt.date(2026, 11, 23)


def flood_week(sessions: sessionmaker[Session], flood: int = 480, steady: int = 10) -> None:
    """Launches in week 2026-W48 from two feeds: ``flood`` from one feed in
    one category (Developer Tools, "Flood Tool N"), and ``steady`` in each
    of two more from another (Design and Productivity, "Steady Design N"…)."""
    with sessions.begin() as session:
        flooding = Feed(url="https://flood.example/feed.xml", category=FLOODED)
        other = Feed(url="https://steady.example/feed.xml")
        session.add_all([flooding, other])
        session.flush()
        tools = [
            _tool(f"flood-tool-{n}", f"Flood Tool {n}", FLOODED, n, flooding) for n in range(flood)
        ]
        for category in STEADY:
            word = category.split()[0]
            tools += [
                _tool(f"steady-{word.lower()}-{n}", f"Steady {word} {n}", category, n, other)
                for n in range(steady)
            ]
        session.add_all(tools)


def _tool(slug: str, name: str, category: str, n: int, feed: Feed) -> Tool:
    return Tool(
        slug=slug,
        name=name,
        vendor="Fictional Labs",
        category=category,
        tagline="A tool launched in a busy week, with a tagline of a usual length.",
        entry_price="Free",
        url=f"https://{slug}.example/",
        launched_on=W48_MONDAY + dt.timedelta(days=n % 7),
        feed_id=feed.id,
    )
