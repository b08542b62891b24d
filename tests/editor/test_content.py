"""What ``digest content list`` reads: a week's comparisons, launches and
tools, hidden ones included, or every comparison and tool."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.content import add_launch, tool_id
from tests.support.sample import W48, load_content
from worker.config import Settings
from worker.domain.weeks import parse_week
from worker.editor.content import ComparisonRow, Listing, ToolRow, list_content
from worker.editor.content_report import listing_json
from worker.store.models import Comparison, Tool

HIDDEN = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
PRISMATIC = "prismatic-canvas-vs-sketchloom"


def listed(
    sessions: sessionmaker[Session], settings: Settings, week: str | None, *kinds: str, **kw: bool
) -> Listing:
    with sessions() as session:
        return list_content(
            session,
            settings,
            None if week is None else parse_week(week),
            kinds or ("comparisons", "launches"),
            **kw,
        )


def hide_directly(
    sessions: sessionmaker[Session], model: type[Tool | Comparison], slug: str
) -> None:
    with sessions.begin() as session:
        session.execute(update(model).where(model.slug == slug).values(hidden_at=HIDDEN))


def sample_with_hidden_junk(sessions: sessionmaker[Session]) -> int:
    """The sample content and a hidden junk launch in its week; the launch's id."""
    load_content(sessions)
    junk = add_launch(sessions, "junk-launch", "Junk Launch")
    hide_directly(sessions, Tool, "junk-launch")
    return junk


def test_a_week_lists_its_comparisons_and_launches_hidden_ones_too(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    junk = sample_with_hidden_junk(sessions)
    listing = listed(sessions, settings, "2026-W48")
    assert listing.week == "2026-W48" and listing.tools is None
    assert listing.comparisons is not None and listing.launches is not None
    assert [c.slug for c in listing.comparisons] == [
        "claude-files-api-vs-claude-haiku-open-weights",
        "loomwright-agents-vs-parcelbot-orchestrator",
        "inkwell-notes-ai-vs-margin-copilot-vs-tallyhand",
        PRISMATIC,
    ]
    seed = listing.comparisons[0]
    assert seed == ComparisonRow(
        id=seed.id,
        slug="claude-files-api-vs-claude-haiku-open-weights",
        title="Claude Files API vs Claude Haiku Open Weights",
        category="Developer Tools",
        published_at=dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC),
        tools=("claude-files-api", "claude-haiku-open-weights"),
        hidden_at=None,
    )
    # As the digest groups them: by category, then name; the hidden one too.
    assert [(x.slug, x.hidden_at) for x in listing.launches] == [
        ("vellum-voice", None),
        ("junk-launch", HIDDEN),
        ("queryfox", None),
    ]
    assert listing.launches[1] == ToolRow(
        id=junk,
        slug="junk-launch",
        name="Junk Launch",
        vendor=None,
        category="Data & Analytics",
        launched_on=dt.date(2026, 11, 26),
        feed="Junk Feed",
        compared_in=(),
        hidden_at=HIDDEN,
    )
    assert listing.launches[0].feed is None  # imported, not from a feed


def test_a_hidden_comparison_is_listed_and_its_tools_are_launches(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_content(sessions)
    hide_directly(sessions, Comparison, PRISMATIC)
    listing = listed(sessions, settings, "2026-W48")
    assert listing.comparisons is not None and listing.launches is not None
    assert [c.hidden_at for c in listing.comparisons if c.slug == PRISMATIC] == [HIDDEN]
    assert {"prismatic-canvas", "sketchloom"} <= {x.slug for x in listing.launches}
    sketchloom = next(x for x in listing.launches if x.slug == "sketchloom")
    assert (sketchloom.compared_in, sketchloom.hidden_at) == ((PRISMATIC,), None)


def test_the_tools_of_a_week_are_its_launched_and_compared_tools(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_content(sessions)
    add_launch(sessions, "next-week", "Next Week", dt.date(2026, 12, 1))
    listing = listed(sessions, settings, "2026-W48", "tools")
    assert listing.comparisons is None and listing.launches is None and listing.tools is not None
    assert len(listing.tools) == 11  # all the sample's
    files_api = next(t for t in listing.tools if t.slug == "claude-files-api")
    assert files_api.compared_in == ("claude-files-api-vs-claude-haiku-open-weights",)
    assert "next-week" not in {t.slug for t in listing.tools}
    # An older tool compared this week is one of its tools, though launched before.
    with sessions.begin() as session:
        session.execute(
            update(Tool).where(Tool.slug == "tallyhand").values(launched_on=dt.date(2026, 1, 5))
        )
    again = listed(sessions, settings, "2026-W48", "tools")
    assert again.tools is not None and "tallyhand" in {t.slug for t in again.tools}
    next_week = listed(sessions, settings, "2026-W49", "tools").tools
    assert [t.slug for t in next_week or ()] == ["next-week"]


def test_without_a_week_everything_is_listed(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_content(sessions)
    add_launch(sessions, "next-week", "Next Week", dt.date(2026, 12, 1))
    hide_directly(sessions, Tool, "next-week")
    every = listed(sessions, settings, None, "comparisons", "tools")
    assert every.week is None and every.launches is None
    assert every.tools is not None and len(every.tools) == 12
    assert every.comparisons is not None and len(every.comparisons) == 4
    only_hidden = listed(sessions, settings, None, "comparisons", "tools", hidden_only=True)
    assert only_hidden.comparisons == ()
    assert [t.slug for t in only_hidden.tools or ()] == ["next-week"]


def test_the_json_names_each_item_by_the_reference_hide_takes(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    junk = sample_with_hidden_junk(sessions)
    document = json.loads(listing_json(listed(sessions, settings, "2026-W48")))
    assert set(document) == {"week", "comparisons", "launches"}
    assert document["comparisons"][0]["ref"] == (
        "comparison:claude-files-api-vs-claude-haiku-open-weights"
    )
    assert document["comparisons"][0]["published_at"] == "2026-11-24T09:00:00+00:00"
    junk_row = next(x for x in document["launches"] if x["slug"] == "junk-launch")
    assert junk_row == {
        "ref": f"launch:{junk}",
        "id": junk,
        "slug": "junk-launch",
        "name": "Junk Launch",
        "vendor": None,
        "category": "Data & Analytics",
        "launched_on": "2026-11-26",
        "feed": "Junk Feed",
        "compared_in": [],
        "hidden_at": "2026-11-30T09:00:00+00:00",
        "hidden": True,
    }
    assert tool_id(sessions, "queryfox") in {x["id"] for x in document["launches"]}
    assert document["week"] == str(W48)
