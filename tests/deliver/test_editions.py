"""Editions: built once per segment, started once however many start them,
with no delivery for a suppressed address."""

from __future__ import annotations

import dataclasses
import threading

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.sample import W48, build_sample_week, load_sample
from worker.compose.message import SegmentParts
from worker.config import Settings
from worker.deliver.editions import build_edition, edition_counts, start_edition
from worker.domain.clicks import counted_links
from worker.editor.preview import compose_preview, edition_findings, read_week
from worker.render.renderer import Renderer
from worker.store.models import EditionSegment, Subscriber, Suppression


def test_build_renders_once_per_segment(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    load_sample(sessions)
    result = build_edition(sessions, W48, settings, renderer)
    assert result.status == "ready" and result.built
    with sessions() as session:
        keys = set(session.scalars(select(Subscriber.categories).distinct()))
        rendered = set(session.scalars(select(EditionSegment.segment)))
    assert rendered == keys | {""}  # every segment, plus the full digest
    assert result.subject and "Claude Files API" in result.subject


def test_two_concurrent_starts_move_the_edition_once(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    barrier = threading.Barrier(2)
    results = []

    def start() -> None:
        barrier.wait()
        results.append(start_edition(sessions, W48, settings))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result.started for result in results) == [False, True]
    mover = next(result for result in results if result.started)
    final = edition_counts(sessions, mover.edition_id)
    assert final.started_at == mover.started_at
    assert all(result.started_at == mover.started_at for result in results)
    assert (final.status, final.total) == ("sending", 8)


def test_suppressed_addresses_get_no_delivery(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer, outbox: list
) -> None:
    build_sample_week(sessions, settings, renderer)
    with sessions.begin() as session:
        session.add(Suppression(email="ada@example.com", reason="complaint"))
    counts = start_edition(sessions, W48, settings)
    assert counts.queued == 7


def test_a_build_counts_its_content_links_and_the_preview_shows_the_same(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    with sessions() as session:
        segments = list(session.scalars(select(EditionSegment)))
        week = read_week(session, W48, settings)
    for segment in segments:
        for part in (segment.html, segment.text):
            found = counted_links(part, settings.site_url)
            assert any(item.startswith("comparison:") for item in found), segment.segment
            assert any(item.startswith(("launch:", "tool:")) for item in found)
    # A fresh render is the stored one, links and all: the preview says so.
    preview = compose_preview(week, "", renderer, settings)
    assert preview.parts == SegmentParts(segments[0].subject, segments[0].html, segments[0].text)
    assert "the built edition (ready) is this message" in [
        f.message for f in edition_findings(week, "", preview.parts, settings)
    ]


def test_with_counts_off_a_build_writes_links_as_they_are(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, dataclasses.replace(settings, click_counts=False), renderer)
    with sessions() as session:
        for segment in session.scalars(select(EditionSegment)):
            assert "/r/" not in segment.html and "/r/" not in segment.text
