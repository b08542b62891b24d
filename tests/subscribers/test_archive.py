"""The archive's editions (subscribers/archive.py): which went out, each
part read on its own, and their per-recipient links and lines made public."""

from __future__ import annotations

import re

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from subscribers.archive import (
    Part,
    archived_part,
    is_week,
    past_editions,
    public_html,
    public_text,
    summary_of,
)
from tests.support.editions import W48, build_sample_week, send_sample_week
from worker.config import Settings
from worker.deliver.editions import start_edition
from worker.domain import placeholders
from worker.domain.states import EditionStatus
from worker.store.models import Edition

SITE = "https://verdicts.example"
SUBSCRIBE = f"{SITE}/"


def test_each_part_is_read_on_its_own(sessions: sessionmaker[Session], settings: Settings) -> None:
    send_sample_week(sessions, settings)
    with sessions() as session:
        page = archived_part(session, "weekly", "2026-W48", Part.HTML, SUBSCRIBE)
        text = archived_part(session, "weekly", "2026-W48", Part.TEXT, SUBSCRIBE)
        assert archived_part(session, "weekly", "2026-W47", Part.TEXT, SUBSCRIBE) is None
    assert page is not None and page.startswith("<!doctype html>")
    assert text is not None and "<" not in text.splitlines()[0]


def test_an_edition_still_sending_is_public_and_dated_by_its_start(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    build_sample_week(sessions, settings)
    with sessions() as session:
        assert past_editions(session, "weekly") == []  # ready: not out yet
    counts = start_edition(sessions, W48, settings)
    assert counts.status == "sending"
    with sessions() as session:
        (entry,) = past_editions(session, "weekly")
    assert entry.week == "2026-W48"
    assert entry.published_at == entry.updated_at == counts.started_at
    with sessions.begin() as session:
        session.execute(update(Edition).values(status=EditionStatus.PAUSED))
    with sessions() as session:
        assert [e.week for e in past_editions(session, "weekly")] == ["2026-W48"]


def test_links_holding_placeholders_are_replaced_wherever_they_are() -> None:
    rendered = (
        "<p>You get this email because you subscribed to Tom &amp; Jerry.<br>"
        f'<a href="{placeholders.UNSUBSCRIBE_URL}">Unsubscribe</a> · '
        f'<a href="{placeholders.PREFERENCES_URL}">Change preferences</a> · '
        f'<a href="{SITE}/archive/2026-W48">View in browser</a></p>'
        f'<a class="vote-skip" href="{SITE}/vote/{placeholders.VOTE_TOKEN}/tool-x/skip">✗ Skip</a>'
        f"<p>Paste {SITE}/vote/{placeholders.VOTE_TOKEN}/tool-x/ship to vote.</p>"
        f'<img src="https://pixel.example/?u={placeholders.UNSUBSCRIBE_URL}" alt="">'
        '<a href="https://tool.example/100%25%25off">A tool</a>'
    )
    public = public_html(rendered, "https://verdicts.example/?from=archive&x=1")
    url = "https://verdicts.example/?from=archive&amp;x=1"
    assert not re.search(r"%%[a-z_]+%%", public)
    assert "This is an edition of Tom &amp; Jerry, from the archive.<br>" in public
    assert f'<a href="{url}">Subscribe</a> · <a href="{SITE}/archive/2026-W48">' in public
    assert "preferences" not in public
    assert f'<a class="vote-skip" href="{url}" title="Subscribe to vote">✗ Skip</a>' in public
    assert f"<p>Paste {url} to vote.</p>" in public
    assert f'<img src="{url}" alt="">' in public
    assert 'href="https://tool.example/100%25%25off"' in public  # content, left alone


def test_text_lines_holding_placeholders_are_dropped_or_replaced() -> None:
    rendered = (
        "Intro\n\n"
        f"  Ship it: {SITE}/vote/{placeholders.VOTE_TOKEN}/tool-x/ship\n"
        f"  Skip it: {SITE}/vote/{placeholders.VOTE_TOKEN}/tool-x/skip\n\n"
        "You get this email because you subscribed to Verdicts.\n"
        f"Unsubscribe: {placeholders.UNSUBSCRIBE_URL}\n"
        f"Change preferences: {placeholders.PREFERENCES_URL}\n"
        f"Odd: {SITE}/x/%%who_knows%%/y and %%other%%\n"
    )
    assert public_text(rendered, SUBSCRIBE) == (
        "Intro\n\n"
        "This is an edition of Verdicts, from the archive.\n"
        f"Subscribe: {SUBSCRIBE}\n"
        f"Odd: {SUBSCRIBE} and {SUBSCRIBE}\n"
    )


def test_the_summary_is_the_preheader_or_else_the_first_lines() -> None:
    head = (
        '<html><head><title>T</title></head><body style="margin:0">'
        '<div style="display:none;font-size:1px">Two &amp; three,\n launches</div><div>'
    )
    assert summary_of(head, "ignored\n") == "Two & three, launches"
    text = "\nWEEKLY\nWeek 48\nView: https://x.example/%%vote_token%%\nmore\n"
    assert summary_of("<html><body><div>no preview</div>", text) == "WEEKLY · Week 48 · View:"
    assert len(summary_of("", "word " * 200)) <= 300


def test_weeks_are_iso_weeks() -> None:
    assert is_week("2026-W48") and is_week("2026-W53")
    assert not any(is_week(w) for w in ("2025-W53", "2026-W00", "2026-W5", "26-W48", " 2026-W48"))
