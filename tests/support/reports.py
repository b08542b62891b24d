"""A store seeded for ``digest report``: two editions that went out, one
that did not, what three subscribers did after each, and clicks; with the
figures the report must give for it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.domain.clicks import edition_links
from worker.domain.states import DeliveryStatus, EditionStatus, SubscriberStatus
from worker.domain.suppression import IntakeKind
from worker.store.models import (
    ClickCount,
    Comparison,
    Delivery,
    Edition,
    EditionSegment,
    IntakeEvent,
    Subscriber,
    Tool,
    Vote,
)

W47_START = dt.datetime(2026, 11, 17, 8, 0, tzinfo=dt.UTC)
W48_START = W47_START + dt.timedelta(days=7)
HOUR = dt.timedelta(hours=1)
HOSTILE_TITLE = '<script>alert("x")</script> & Parcelbot </title> vs "Loom"'
INTRO_LINK = "https://blog.example/why?a=1&b=2"


def seed_report_world(sessions: sessionmaker[Session], settings: Settings) -> None:
    """Subscribers ada, bob and cy; 2026-W47 went to all three (ada and bob
    accepted, cy failed), 2026-W48 too (ada accepted, bob deferred, cy
    suppressed); 2026-W49 is built, not sent.

    After W47 went out: ada voted, a bounce report came for bob. After W48:
    ada unsubscribed, voted again and complained; bob unsubscribed, whose
    W48 message was never accepted, so his unsubscribe counts for W47. cy
    voted before any message of ours reached her: it counts for none.
    """
    w48_links = edition_links(settings, "2026-W48")
    assert w48_links is not None
    intro = w48_links.url("intro:1", INTRO_LINK)
    with sessions.begin() as session:
        people = {
            name: Subscriber(
                email=f"{name}@example.com",
                status=SubscriberStatus.CONFIRMED,
                confirmed_at=W47_START - 30 * HOUR,
            )
            for name in ("ada", "bob", "cy")
        }
        session.add_all(people.values())
        tools = [
            Tool(slug="parcelbot", name="Parcelbot"),
            Tool(slug="loomwright", name="Loomwright"),
        ]
        session.add_all(tools)
        session.add(Comparison(slug="parcelbot-vs-loom", title=HOSTILE_TITLE))
        editions = {}
        for week, start, status in (
            ("2026-W47", W47_START, EditionStatus.SENT),
            ("2026-W48", W48_START, EditionStatus.SENT),
            ("2026-W49", None, EditionStatus.READY),
        ):
            edition = Edition(
                list_id=settings.list_id,
                week=week,
                status=status,
                subject=f"The verdicts of {week}",
                started_at=start,
                sent_at=start + 2 * HOUR if start else None,
            )
            text = f"Read why [1]\n\n[1] {intro}\n" if week == "2026-W48" else "no links\n"
            edition.segments.append(EditionSegment(segment="", subject="s", html="h", text=text))
            session.add(edition)
            editions[week] = edition
        session.flush()
        ada, bob, cy = (people[n].id for n in ("ada", "bob", "cy"))
        deliveries = [
            ("2026-W47", ada, DeliveryStatus.SENT, W47_START + HOUR),
            ("2026-W47", bob, DeliveryStatus.SENT, W47_START + HOUR),
            ("2026-W47", cy, DeliveryStatus.FAILED, None),
            ("2026-W48", ada, DeliveryStatus.SENT, W48_START + HOUR),
            ("2026-W48", bob, DeliveryStatus.DEFERRED, None),
            ("2026-W48", cy, DeliveryStatus.SUPPRESSED, None),
        ]
        session.execute(
            insert(Delivery),
            [
                {
                    "edition_id": editions[week].id,
                    "subscriber_id": who,
                    "segment_id": editions[week].segments[0].id,
                    "status": status,
                    "sent_at": sent_at,
                }
                for week, who, status, sent_at in deliveries
            ],
        )
        people["ada"].status = people["bob"].status = SubscriberStatus.UNSUBSCRIBED
        people["ada"].unsubscribed_at = W48_START + 2 * HOUR
        people["bob"].unsubscribed_at = W48_START + 2 * HOUR
        session.add_all(
            [
                Vote(
                    tool_id=tools[0].id,
                    subscriber_id=ada,
                    verdict="ship",
                    created_at=W47_START + 2 * HOUR,
                ),
                Vote(
                    tool_id=tools[1].id,
                    subscriber_id=ada,
                    verdict="skip",
                    created_at=W48_START + 3 * HOUR,
                ),
                Vote(
                    tool_id=tools[0].id,
                    subscriber_id=cy,
                    verdict="ship",
                    created_at=W47_START + 2 * HOUR,
                ),
            ]
        )
        session.add_all(
            [
                _event("bob@example.com", IntakeKind.HARD_BOUNCE, W47_START + 3 * HOUR),
                _event("ada@example.com", IntakeKind.COMPLAINT, W48_START + 4 * HOUR),
                _event("nobody@example.com", IntakeKind.COMPLAINT, W48_START + 4 * HOUR),
            ]
        )
        clicks = [
            ("2026-W48", "comparison:parcelbot-vs-loom", 5),
            ("2026-W48", "launch:parcelbot", 3),
            ("2026-W48", "intro:1", 2),
            ("2026-W47", "tool:loomwright", 1),
        ]
        session.add_all(
            ClickCount(
                edition_id=editions[week].id,
                item=item,
                clicks=n,
                first_at=W48_START,
                last_at=W48_START,
            )
            for week, item, n in clicks
        )


def _event(email: str, kind: IntakeKind, at: dt.datetime) -> IntakeEvent:
    return IntakeEvent(
        source="test", event_key=f"{email} {kind}", kind=kind, email=email, created_at=at
    )


#: What the report says of the seeded editions, newest first.
EXPECTED = {
    "2026-W48": {
        "recipients": 3,
        "accepted": 1,
        "deferred": 1,
        "failed": 0,
        "suppressed": 1,
        "bounced": 0,
        "complaints": 1,
        "unsubscribes": 1,
        "votes": 1,
        "clicks": 10,
    },
    "2026-W47": {
        "recipients": 3,
        "accepted": 2,
        "deferred": 0,
        "failed": 1,
        "suppressed": 0,
        "bounced": 1,
        "complaints": 0,
        "unsubscribes": 1,
        "votes": 1,
        "clicks": 1,
    },
}
