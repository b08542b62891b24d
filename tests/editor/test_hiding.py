"""Hiding content: a hidden launch or comparison leaves the unsent editions
that showed it and every later build, comes back when shown again, and a
sending or sent edition keeps its copy. On both stores."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.content import (
    add_launch,
    edition_state,
    renders,
    row_counts,
    shown,
)
from tests.support.editions import start_week
from tests.support.sample import W48, build_sample_week, load_sample
from worker.config import Settings
from worker.deliver.approvals import approve_edition
from worker.deliver.editions import build_edition
from worker.domain.weeks import parse_week
from worker.editor.hiding import HideReport, set_hidden
from worker.editor.rebuilds import EditionEffect
from worker.editor.refs import ContentError
from worker.gather import gather_week
from worker.render.renderer import Renderer
from worker.store.models import Comparison, Tool

NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)
PRISMATIC = "prismatic-canvas-vs-sketchloom"


@pytest.fixture
def renderer(settings: Settings) -> Renderer:
    return Renderer(settings.templates_dir)


def hide(
    sessions: sessionmaker[Session],
    settings: Settings,
    renderer: Renderer,
    *refs: str,
    now: dt.datetime = NOW,
) -> HideReport:
    return set_hidden(sessions, refs, settings, renderer, hidden=True, now=now)


def unhide(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer, *refs: str
) -> HideReport:
    return set_hidden(sessions, refs, settings, renderer, hidden=False, now=LATER)


def test_a_hidden_launch_leaves_the_ready_edition_and_every_later_build(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    junk = add_launch(sessions, "junk-launch", "Junk Launch")
    build_edition(sessions, W48, settings, renderer)
    assert "Junk Launch" in shown(sessions, W48)
    report = hide(sessions, settings, renderer, f"launch:{junk}")
    (done,) = report.items
    assert (done.item.ref, done.changed, done.hidden_at, done.still_in) == (
        "tool:junk-launch",
        True,
        NOW,
        (),
    )
    assert report.editions == (EditionEffect("2026-W48", "ready", rebuilt=True),)
    every_segment = renders(sessions, W48)
    assert every_segment and not any("Junk Launch" in html for _, html, _ in every_segment.values())
    assert not any("Junk Launch" in text for _, _, text in every_segment.values())
    assert "Queryfox" in shown(sessions, W48)  # the week's other launches stay
    build_edition(sessions, W48, settings, renderer)  # a later build by hand
    assert "Junk Launch" not in shown(sessions, W48)
    with sessions() as session:
        assert "junk-launch" not in {x.slug for x in gather_week(session, W48, settings).launches}

    back = unhide(sessions, settings, renderer, "junk-launch")
    assert [(d.changed, d.hidden_at) for d in back.items] == [(True, None)]
    assert back.editions == (EditionEffect("2026-W48", "ready", rebuilt=True),)
    assert "Junk Launch" in shown(sessions, W48)


def test_a_hidden_comparison_leaves_the_edition_and_its_new_tools_become_launches(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    assert "Prismatic Canvas vs Sketchloom" in shown(sessions, W48)
    report = hide(sessions, settings, renderer, f"comparison:{PRISMATIC}")
    assert [d.item.ref for d in report.items] == [f"comparison:{PRISMATIC}"]
    assert report.editions == (EditionEffect("2026-W48", "ready", rebuilt=True),)
    text = shown(sessions, W48)
    assert "Prismatic Canvas vs Sketchloom" not in text
    with sessions() as session:
        digest = gather_week(session, W48, settings)
    assert PRISMATIC not in {c.slug for c in digest.comparisons}
    # Launched in the week and covered by no shown comparison: launches now.
    assert {"prismatic-canvas", "sketchloom"} <= {x.slug for x in digest.launches}
    assert "Prismatic Canvas" in text

    unhide(sessions, settings, renderer, PRISMATIC)
    assert "Prismatic Canvas vs Sketchloom" in shown(sessions, W48)


def test_a_sending_edition_keeps_its_copy(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    load_sample(sessions)
    junk = add_launch(sessions, "junk-launch", "Junk Launch")
    start_week(sessions, settings)
    before, counts = renders(sessions, W48), row_counts(sessions)
    report = hide(sessions, settings, renderer, f"launch:{junk}", PRISMATIC)
    assert report.editions == (EditionEffect("2026-W48", "sending", rebuilt=False),)
    assert renders(sessions, W48) == before  # the same rows, the same bytes
    assert row_counts(sessions) == counts
    assert "Junk Launch" in before[""][2]
    with sessions() as session:  # hidden all the same, for any later edition
        hidden = session.scalar(select(Tool.hidden_at).where(Tool.id == junk))
        assert hidden == NOW


def test_hiding_twice_says_so_and_rebuilds_nothing(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    hide(sessions, settings, renderer, "queryfox")
    before = renders(sessions, W48)
    again = hide(sessions, settings, renderer, "queryfox", "launch:queryfox", now=LATER)
    (done,) = again.items  # named twice, one item
    assert (done.changed, done.hidden_at) == (False, NOW)  # since the first time
    assert again.editions == ()
    assert renders(sessions, W48) == before
    shown_again, never_hidden = unhide(
        sessions, settings, renderer, "queryfox", "vellum-voice"
    ).items
    assert (shown_again.changed, never_hidden.changed) == (True, False)
    assert never_hidden.hidden_at is None


def test_showing_the_only_launch_again_fills_a_skipped_week(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    w50 = parse_week("2026-W50")
    lone = add_launch(sessions, "lone-launch", "Lone Launch", dt.date(2026, 12, 9))
    hide(sessions, settings, renderer, f"launch:{lone}")
    assert build_edition(sessions, w50, settings, renderer).status == "skipped"
    report = unhide(sessions, settings, renderer, "tool:lone-launch")
    assert report.editions == (EditionEffect("2026-W50", "ready", rebuilt=True),)
    assert "Lone Launch" in shown(sessions, w50)
    again = hide(sessions, settings, renderer, "lone-launch")
    assert again.editions == (EditionEffect("2026-W50", "skipped", rebuilt=True),)


def test_a_rebuilt_edition_loses_its_approval(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    approve_edition(sessions, W48, settings, "ed", NOW)
    report = hide(sessions, settings, renderer, "queryfox")
    assert report.editions == (
        EditionEffect("2026-W48", "ready", rebuilt=True, approval_withdrawn=True),
    )
    assert edition_state(sessions, W48) == ("ready", False)


def test_a_hidden_tool_stays_in_its_comparison(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    before = renders(sessions, W48)
    report = hide(sessions, settings, renderer, "tool:claude-files-api")
    (done,) = report.items
    assert done.changed
    assert done.still_in == ("claude-files-api-vs-claude-haiku-open-weights",)
    assert report.editions == ()  # it is no launch of its week: nothing to rebuild
    assert renders(sessions, W48) == before


def test_a_week_without_an_edition_has_nothing_to_rebuild(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    load_sample(sessions)
    report = hide(sessions, settings, renderer, "queryfox", PRISMATIC)
    assert report.editions == (EditionEffect("2026-W48", None, rebuilt=False),)
    assert edition_state(sessions, W48) is None
    result = build_edition(sessions, W48, settings, renderer)
    assert result.built
    text = shown(sessions, W48)
    assert "Queryfox" not in text and "Prismatic Canvas vs Sketchloom" not in text


def test_only_this_lists_editions_are_rebuilt(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    other = dataclasses.replace(settings, list_id="other")
    assert hide(sessions, other, renderer, "queryfox").editions == (
        EditionEffect("2026-W48", None, rebuilt=False),
    )
    assert "Queryfox" in shown(sessions, W48)  # the weekly list's edition is not its


def test_an_unknown_reference_changes_nothing(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    before = renders(sessions, W48)
    with pytest.raises(ContentError) as raised:
        hide(sessions, settings, renderer, "queryfox", PRISMATIC, "comparison:nope-vs-nothing")
    assert str(raised.value) == "no comparison has the id or slug 'nope-vs-nothing'"
    with sessions() as session:
        assert (
            session.scalars(select(Tool.hidden_at).where(Tool.hidden_at.is_not(None))).all() == []
        )
        assert (
            session.scalars(
                select(Comparison.hidden_at).where(Comparison.hidden_at.is_not(None))
            ).all()
            == []
        )
    assert renders(sessions, W48) == before
