"""The operator's list management: its figures."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from subscribers.admin import Segment, list_stats
from tests.support.sample import W48, load_content
from tests.support.subscribers import a_mixed_list, add_confirmed, tools_of
from worker.config import Settings
from worker.deliver.editions import build_edition, start_edition
from worker.render.renderer import Renderer


def test_list_stats_count_by_status_reason_and_segment(sessions: sessionmaker[Session]) -> None:
    now = dt.datetime.now(dt.UTC)
    a_mixed_list(sessions, now)
    tools_of(sessions, "B")
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
        Segment("A|B", confirmed=1, receiving=0, untooled=("A",)),
    ]
    assert stats.receiving == 3


def test_a_segment_whose_categories_no_tool_has_receives_nothing(
    sessions: sessionmaker[Session],
) -> None:
    tools_of(sessions, "Design")
    for address, categories in [
        ("all@example.com", ""),
        ("robots@example.com", "Robotics"),
        ("both@example.com", "Robotics|design"),  # a category matches whatever its case
    ]:
        add_confirmed(sessions, address, categories)
    with sessions() as session:
        stats = list_stats(session, dt.datetime.now(dt.UTC))
    assert stats.segments == [
        Segment("", confirmed=1, receiving=1),
        Segment("Robotics|design", confirmed=1, receiving=1, untooled=("Robotics",)),
        Segment("Robotics", confirmed=1, receiving=0, untooled=("Robotics",)),
    ]
    assert stats.receiving == 2


def test_receiving_is_what_the_next_edition_is_sent_to(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_content(sessions)
    for address, categories in [
        ("all@example.com", ""),
        ("design@example.com", "Design"),
        ("robots@example.com", "Robotics"),
        ("typo@example.com", "Robotix|Roboticss"),
    ]:
        add_confirmed(sessions, address, categories)
    with sessions() as session:
        receiving = list_stats(session, dt.datetime.now(dt.UTC)).receiving
    build_edition(sessions, W48, settings, Renderer(settings.templates_dir))
    assert start_edition(sessions, W48, settings).queued == receiving == 2
