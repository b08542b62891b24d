"""The welcome's edition: the newest that went out, as the newcomer's
segment got it, on both stores."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.sample import load_content
from tests.support.subscribers import add_confirmed
from worker.config import Settings
from worker.deliver.editions import build_edition, start_edition
from worker.deliver.welcome import latest_segment
from worker.domain.segments import EVERYONE
from worker.domain.weeks import parse_week
from worker.render.renderer import Renderer
from worker.store.models import EditionSegment


def test_the_welcome_edition_is_the_subscribers_segment_or_else_the_full_digest(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    load_content(sessions)
    reader = add_confirmed(sessions, "dev@example.com", "Developer Tools")  # gets its segment
    week = parse_week("2026-W48")
    build_edition(sessions, week, settings, Renderer(settings.templates_dir))
    start_edition(sessions, week, settings)
    newcomer = add_confirmed(sessions, "new-dev@example.com", "Developer Tools")
    elsewhere = add_confirmed(sessions, "new-other@example.com", "Nothing Rendered")
    with sessions() as session:
        ids = {
            segment: id_
            for segment, id_ in session.execute(select(EditionSegment.segment, EditionSegment.id))
        }
        own = latest_segment(session, settings.list_id, newcomer, "Developer Tools")
        full = latest_segment(session, settings.list_id, elsewhere, "Nothing Rendered")
        again = latest_segment(session, settings.list_id, reader, "Developer Tools")
    assert set(ids) == {EVERYONE, "Developer Tools"}
    assert own is not None and own.segment_id == ids["Developer Tools"]
    assert full is not None and full.segment_id == ids[EVERYONE]
    assert own.edition.week == full.edition.week == "2026-W48"
    assert again is None  # already has a delivery of it
