"""Approvals and holds of an edition, on both stores: who approved or held
it and when, what they refuse, and what the schedule's send does with
them (it waits for an approval when one is required, and for a release)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support.schedule import add_week_content, berlin, deliveries, edition, without_feeds
from worker.config import Settings
from worker.deliver.approvals import approve_edition, hold_edition, release_edition
from worker.deliver.editions import EditionStateError, build_edition, start_edition
from worker.domain.weeks import Week
from worker.render.renderer import Renderer
from worker.schedule.jobs import run_due

W47 = Week(2026, 47)


@pytest.fixture
def clocked(settings: Settings, tmp_path: Path) -> Settings:
    return without_feeds(settings, tmp_path)


@pytest.fixture
def strict(clocked: Settings) -> Settings:
    """The schedule, with DIGEST_REQUIRE_APPROVAL."""
    return dataclasses.replace(clocked, digest_require_approval=True)


@pytest.fixture
def built(sessions: sessionmaker[Session], clocked: Settings) -> Week:
    """W47, content and three subscribers, built by the schedule on Monday
    23 November at 18:00 (its send is Tuesday 09:00)."""
    add_week_content(sessions, dt.date(2026, 11, 16))
    run_due(sessions, clocked, berlin(2026, 11, 23, 18, 0))
    return W47


def test_a_held_edition_is_not_sent_until_released(
    sessions: sessionmaker[Session], clocked: Settings, built: Week
) -> None:
    held_at = berlin(2026, 11, 23, 20, 0)
    marks = hold_edition(sessions, built, clocked, "editor-ana", held_at)
    assert (marks.held_by, marks.held_at) == ("editor-ana", held_at)
    report = run_due(sessions, clocked, berlin(2026, 11, 24, 9, 0))
    assert report.started is None and report.waiting is not None
    assert "held by editor-ana" in report.waiting
    with pytest.raises(EditionStateError, match="held"):
        start_edition(sessions, built, clocked)  # digest send refuses it too
    assert deliveries(sessions) == 0
    release_edition(sessions, built, clocked, "editor-ana")
    report = run_due(sessions, clocked, berlin(2026, 11, 24, 9, 5))
    assert report.started is not None and deliveries(sessions) == 3


def test_with_approval_required_the_send_waits_for_approve(
    sessions: sessionmaker[Session], strict: Settings, built: Week
) -> None:
    report = run_due(sessions, strict, berlin(2026, 11, 24, 9, 0))
    assert report.started is None and report.waiting and "approval" in report.waiting
    approved_at = berlin(2026, 11, 24, 9, 30)
    marks = approve_edition(sessions, built, strict, "editor-ana", approved_at)
    assert (marks.approved_by, marks.approved_at, marks.status) == (
        "editor-ana",
        approved_at,
        "ready",
    )
    report = run_due(sessions, strict, berlin(2026, 11, 24, 9, 35))
    assert report.started is not None and deliveries(sessions) == 3
    stored = edition(sessions, built)
    assert stored is not None and stored.approved_by == "editor-ana"


def test_approving_a_held_edition_keeps_the_hold(
    sessions: sessionmaker[Session], strict: Settings, built: Week
) -> None:
    hold_edition(sessions, built, strict, "editor-bo", berlin(2026, 11, 23, 19, 0))
    marks = approve_edition(sessions, built, strict, "editor-ana", berlin(2026, 11, 23, 20, 0))
    assert marks.held_by == "editor-bo" and marks.approved_by == "editor-ana"
    report = run_due(sessions, strict, berlin(2026, 11, 24, 9, 0))
    assert report.started is None and deliveries(sessions) == 0


def test_hold_refuses_an_edition_already_sending(
    sessions: sessionmaker[Session], clocked: Settings
) -> None:
    add_week_content(sessions, dt.date(2026, 11, 16))
    run_due(sessions, clocked, berlin(2026, 11, 24, 9, 0))
    with pytest.raises(EditionStateError, match="is sending; only a ready edition can be held"):
        hold_edition(sessions, W47, clocked, "editor-ana", berlin(2026, 11, 24, 9, 1))
    with pytest.raises(EditionStateError, match="no edition for that week yet"):
        approve_edition(sessions, Week(2026, 48), clocked, "editor-ana", berlin(2026, 11, 24))


def test_a_rebuild_withdraws_the_approval(
    sessions: sessionmaker[Session], clocked: Settings
) -> None:
    add_week_content(sessions, dt.date(2026, 11, 16))
    renderer = Renderer(clocked.templates_dir)
    build_edition(sessions, W47, clocked, renderer)
    approve_edition(sessions, W47, clocked, "editor-ana", berlin(2026, 11, 23, 19, 0))
    build_edition(sessions, W47, clocked, renderer)
    rebuilt = edition(sessions, W47)
    assert rebuilt is not None and rebuilt.approved_at is None and rebuilt.approved_by is None
