"""Removing content: a tool takes its reviews, votes and comparison columns,
a comparison its columns, and nothing else goes; a comparison is never left
with one tool; unsent editions are rebuilt, sent ones keep their stored
copy. The store's cascades do it, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.content import add_launch, renders, row_counts, shown, tool_id, vote_on
from tests.support.editions import send_sample_week
from tests.support.sample import W48, build_sample_week, load_sample
from worker.config import Settings
from worker.editor.rebuilds import EditionEffect
from worker.editor.refs import ContentError, Item
from worker.editor.removal import ComparisonTakes, Removal, ToolTakes, plan_removal, remove_content
from worker.gather import gather_week
from worker.render.renderer import Renderer
from worker.store.models import Comparison, ComparisonTool, Review, Tool

INKWELL = "inkwell-notes-ai-vs-margin-copilot-vs-tallyhand"
LOOMWRIGHT = "loomwright-agents-vs-parcelbot-orchestrator"


@pytest.fixture
def renderer(settings: Settings) -> Renderer:
    return Renderer(settings.templates_dir)


def plan(sessions: sessionmaker[Session], settings: Settings, *refs: str) -> Removal:
    with sessions() as session:
        return plan_removal(session, refs, settings)


def less(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """How many rows each table lost (tables that lost none left out)."""
    return {name: before[name] - after[name] for name in before if before[name] != after[name]}


def test_a_tool_takes_its_reviews_votes_and_columns_and_nothing_else(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    vote_on(sessions, "tallyhand", "ship", "skip", "ship")
    vote_on(sessions, "margin-copilot", "ship")
    tallyhand = tool_id(sessions, "tallyhand")
    removal = plan(sessions, settings, "tool:tallyhand")
    assert removal.tools == (
        ToolTakes(Item("tool", tallyhand, "tallyhand", "Tallyhand"), 4, 3, (INKWELL,)),
    )
    assert (removal.comparisons, removal.narrowed) == ((), ((INKWELL, 2),))
    assert [str(week) for week in removal.weeks] == ["2026-W48"]
    before = row_counts(sessions)
    assert "/tallyhand/ship" in shown(sessions, W48)
    effects = remove_content(sessions, removal, settings, renderer)
    assert effects == (EditionEffect("2026-W48", "ready", rebuilt=True),)
    assert less(before, row_counts(sessions)) == {
        "tool": 1,
        "review": 4,
        "vote": 3,
        "comparison_tool": 1,
    }
    with sessions() as session:
        assert session.scalars(select(Review).where(Review.tool_id == tallyhand)).all() == []
        digest = gather_week(session, W48, settings)
    inkwell = next(c for c in digest.comparisons if c.slug == INKWELL)
    assert [t.slug for t in inkwell.tools] == ["inkwell-notes-ai", "margin-copilot"]
    margin = inkwell.tools[1]
    assert margin.figures.community_votes == 1  # another tool's votes stay
    text = shown(sessions, W48)  # its vote links were its column's
    assert "/tallyhand/ship" not in text and "/margin-copilot/ship" in text


def test_a_comparison_takes_its_columns_not_its_tools(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    removal = plan(sessions, settings, f"comparison:{LOOMWRIGHT}")
    (takes,) = removal.comparisons
    assert (takes.item.ref, takes.columns, removal.tools) == (f"comparison:{LOOMWRIGHT}", 2, ())
    before = row_counts(sessions)
    remove_content(sessions, removal, settings, renderer)
    assert less(before, row_counts(sessions)) == {"comparison": 1, "comparison_tool": 2}
    with sessions() as session:
        digest = gather_week(session, W48, settings)
    assert LOOMWRIGHT not in {c.slug for c in digest.comparisons}
    # Its tools were launched that week and no comparison covers them now.
    assert {"loomwright-agents", "parcelbot-orchestrator"} <= {x.slug for x in digest.launches}
    assert "Loomwright Agents vs Parcelbot Orchestrator" not in shown(sessions, W48)


def test_a_comparison_is_never_left_with_one_tool(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    before = row_counts(sessions)
    with pytest.raises(ContentError) as refused:
        plan(sessions, settings, "tool:loomwright-agents")
    assert str(refused.value) == (
        f"removing tool:loomwright-agents would leave comparison:{LOOMWRIGHT} with 1 tool"
    )
    assert refused.value.hint == (
        "name the comparison too, to remove it with them: digest content remove "
        f"tool:loomwright-agents comparison:{LOOMWRIGHT}; or hide the tool instead: "
        "digest content hide tool:loomwright-agents"
    )
    with pytest.raises(ContentError, match=f"would leave comparison:{INKWELL} with 1 tool"):
        plan(sessions, settings, "tallyhand", "tool:margin-copilot")
    assert row_counts(sessions) == before
    # Named too, it goes with them.
    removal = plan(sessions, settings, "tool:loomwright-agents", LOOMWRIGHT)
    assert [t.item.slug for t in removal.tools] == ["loomwright-agents"]
    assert removal.comparisons == (
        ComparisonTakes(Item("comparison", 2, LOOMWRIGHT, removal.comparisons[0].item.name), 2),
    )
    assert removal.narrowed == ()
    remove_content(sessions, removal, settings, renderer)
    assert less(before, row_counts(sessions)) == {
        "tool": 1,
        "review": 4,
        "comparison": 1,
        "comparison_tool": 2,
    }


def test_a_sent_edition_keeps_its_stored_copy(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    send_sample_week(sessions, settings)
    stored, before = renders(sessions, W48), row_counts(sessions)
    removal = plan(sessions, settings, "claude-files-api-vs-claude-haiku-open-weights")
    effects = remove_content(sessions, removal, settings, renderer)
    assert effects == (EditionEffect("2026-W48", "sent", rebuilt=False),)
    assert renders(sessions, W48) == stored
    assert "Claude Files API vs Claude Haiku Open Weights" in stored[""][2]
    assert less(before, row_counts(sessions)) == {"comparison": 1, "comparison_tool": 2}


def test_a_launch_goes_from_the_unsent_edition(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    load_sample(sessions)
    junk = add_launch(sessions, "junk-launch", "Junk Launch")
    build_sample_week(sessions, settings, renderer)
    assert "Junk Launch" in shown(sessions, W48)
    removal = plan(sessions, settings, f"launch:{junk}")
    assert removal.tools[0].reviews == removal.tools[0].votes == 0
    remove_content(sessions, removal, settings, renderer)
    assert "Junk Launch" not in shown(sessions, W48)
    with sessions() as session:
        assert session.get(Tool, junk) is None


def test_a_removal_planned_on_other_content_removes_nothing(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    build_sample_week(sessions, settings, renderer)
    removal = plan(sessions, settings, "tool:tallyhand")
    vote_on(sessions, "tallyhand", "ship")  # while the editor read the plan
    before = row_counts(sessions)
    with pytest.raises(ContentError, match="the content changed after the removal was planned"):
        remove_content(sessions, removal, settings, renderer)
    assert row_counts(sessions) == before
    stale = dataclasses.replace(removal, weeks=())
    with pytest.raises(ContentError):
        remove_content(sessions, stale, settings, renderer)
    assert row_counts(sessions) == before


def test_cascades_reach_every_column_row_of_the_tool(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer
) -> None:
    """The store's ON DELETE CASCADE, not the ORM: a tool in two comparisons
    loses both columns in one delete."""
    load_sample(sessions)
    with sessions.begin() as session:
        loomwright = session.scalars(select(Comparison).where(Comparison.slug == LOOMWRIGHT)).one()
        margin = tool_id(sessions, "margin-copilot")
        session.add(ComparisonTool(comparison_id=loomwright.id, tool_id=margin, position=2))
    removal = plan(sessions, settings, "margin-copilot")
    assert removal.tools[0].comparisons == (LOOMWRIGHT, INKWELL)
    assert removal.narrowed == ((LOOMWRIGHT, 2), (INKWELL, 2))
    before = row_counts(sessions)
    remove_content(sessions, removal, settings, renderer)
    assert less(before, row_counts(sessions)) == {"tool": 1, "review": 4, "comparison_tool": 2}
