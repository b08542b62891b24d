"""Gather: a week's comparisons and launches, with figures, as plain data."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.launches import STEADY, flood_week
from tests.support.sample import W48, load_content
from worker.config import Settings
from worker.domain.digest import Digest
from worker.domain.segments import EVERYONE
from worker.domain.weeks import Week, parse_week
from worker.gather import LaunchPage, gather_comparison, gather_launches, gather_week
from worker.render.renderer import HTML_BUDGET, Renderer
from worker.store.models import Comparison, ComparisonTool, Subscriber, Tool, Vote


def gathered_sample_week(sessions: sessionmaker[Session], settings: Settings) -> Digest:
    """The sample content's week, 2026-W48, as gather gives it."""
    load_content(sessions)
    with sessions() as session:
        return gather_week(session, W48, settings)


def gathered_flooded_week(sessions: sessionmaker[Session], settings: Settings) -> Digest:
    """The sample content's week flooded by a feed (tests/support/launches.py)."""
    load_content(sessions)
    flood_week(sessions)
    with sessions() as session:
        return gather_week(session, W48, settings)


def test_the_seed_comparison_has_its_figures(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    digest = gathered_sample_week(sessions, settings)
    assert digest.week == "2026-W48"
    assert (digest.starts_on, digest.ends_on) == (dt.date(2026, 11, 23), dt.date(2026, 11, 29))
    seed = digest.comparisons[0]
    assert seed.title == "Claude Files API vs Claude Haiku Open Weights"
    assert seed.url == "https://verdicts.example/compare/" + seed.slug
    files_api, haiku = seed.tools
    assert (files_api.figures.panel_ship, files_api.figures.entry) == (100, "Paid")
    assert (haiku.figures.panel_ship, haiku.figures.entry) == (50, "Free")
    assert files_api.figures.community is None and haiku.figures.community is None
    assert [(s.seat, s.verdict) for s in haiku.figures.split] == [
        ("builder", "ship"),
        ("skeptic", "skip"),
        ("buyer", "skip"),
        ("futurist", "ship"),
    ]
    assert haiku.quote is not None and haiku.quote.seat == "builder"
    assert haiku.quote.text.startswith("The primitive here is simple")
    assert [c.title for c in digest.comparisons][1:] == [
        "Loomwright Agents vs Parcelbot Orchestrator",
        "Inkwell Notes AI vs Margin Copilot vs Tallyhand",
        "Prismatic Canvas vs Sketchloom",
    ]


def test_the_method_page_is_carried_to_the_digest(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    assert gathered_sample_week(sessions, settings).method_url is None
    method = dataclasses.replace(settings, method_url="https://verdicts.example/method")
    with sessions() as session:
        assert gather_week(session, W48, method).method_url == "https://verdicts.example/method"


def test_launches_leave_out_tools_a_comparison_covers(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    digest = gathered_sample_week(sessions, settings)
    compared = {t.slug for c in digest.comparisons for t in c.tools}
    launched = {launch.slug for launch in digest.launches}
    assert launched == {"queryfox", "vellum-voice"}
    assert not compared & launched


def test_community_figures_come_from_votes(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_content(sessions)
    with sessions.begin() as session:
        people = [Subscriber(email=f"v{i}@example.com") for i in range(3)]
        session.add_all(people)
        session.flush()
        tool = session.query(Tool).filter_by(slug="claude-haiku-open-weights").one()
        for person, verdict in zip(people, ["ship", "ship", "skip"], strict=True):
            session.add(Vote(tool_id=tool.id, subscriber_id=person.id, verdict=verdict))
    with sessions() as session:
        haiku = gather_week(session, W48, settings).comparisons[0].tools[1]
    assert (haiku.figures.community, haiku.figures.community_votes) == (67, 3)


def test_an_empty_week_gathers_nothing(sessions: sessionmaker[Session], settings: Settings) -> None:
    load_content(sessions)
    with sessions() as session:
        assert gather_week(session, parse_week("2026-W47"), settings).is_empty
        assert gather_week(session, parse_week("2026-W49"), settings).is_empty


def test_the_week_is_local_to_the_digest_time_zone(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    # Sunday 23:30 UTC is already Monday 00:30 in Berlin: next week there.
    late = dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.UTC)
    with sessions.begin() as session:
        a, b = Tool(slug="a", name="A"), Tool(slug="b", name="B")
        comparison = Comparison(slug="late", title="A vs B", published_at=late)
        comparison.entries = [
            ComparisonTool(tool=a, position=0),
            ComparisonTool(tool=b, position=1),
        ]
        session.add(comparison)
    berlin = settings
    utc = dataclasses.replace(settings, digest_timezone="UTC")
    with sessions() as session:
        assert [c.slug for c in gather_week(session, W48, utc).comparisons] == ["late"]
        assert gather_week(session, W48, berlin).comparisons == ()
        assert [c.slug for c in gather_week(session, Week(2026, 49), berlin).comparisons] == [
            "late"
        ]


def test_a_flooded_week_gathers_every_launch_with_its_feed(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    digest = gathered_flooded_week(sessions, settings)
    assert len(digest.launches) == 2 + 480 + 20  # the sample's two, the flood, the steady feed
    assert digest.max_launches == settings.digest_max_launches == 40
    by_feed = Counter(launch.feed_id for launch in digest.launches)
    assert sorted(by_feed.values()) == [2, 20, 480] and None in by_feed


def test_a_weeks_launches_are_read_a_page_at_a_time(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    every = gathered_flooded_week(sessions, settings).launches
    pages = []
    with sessions() as session:
        for offset in range(0, 600, 200):
            pages.append(gather_launches(session, W48, settings, offset=offset, limit=200))
        beyond = gather_launches(session, W48, settings, offset=10**30, limit=200)
    assert [page.total for page in pages] == [502, 502, 502] and beyond == LaunchPage(502, ())
    assert [len(page.launches) for page in pages] == [200, 200, 102]
    listed = [launch for page in pages for launch in page.launches]
    assert sorted(listed, key=lambda x: x.tool_id) == sorted(every, key=lambda x: x.tool_id)
    categories = [launch.category for launch in listed]
    assert categories == sorted(categories, key=lambda c: (c is None, c))


def test_a_flooded_week_renders_within_the_cap_fair_across_categories(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    digest = gathered_flooded_week(sessions, settings)
    out = Renderer(settings.templates_dir).render_segment(digest, EVERYONE)
    assert out is not None
    shown = [line[2:].split(" · ")[0] for line in out.text.splitlines() if line.startswith("* ")]
    assert len(shown) == 40
    # The imported content's two, then the two feeds take turns: 19 each.
    assert Counter(name.split()[0] for name in shown) == {
        "Queryfox": 1,
        "Vellum": 1,
        "Flood": 19,
        "Steady": 19,
    }
    assert {name.split()[1] for name in shown if name.startswith("Steady")} == set(STEADY)
    assert "And 462 more launches this week." in out.text
    assert f"{settings.site_url}/archive/2026-W48/launches" in out.text
    assert f'href="{settings.site_url}/archive/2026-W48/launches"' in out.html
    assert len(out.html.encode()) <= HTML_BUDGET
    assert out.subject.startswith("Claude Files API vs Claude Haiku Open Weights")


def test_the_sample_week_is_the_same_under_the_cap(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    digest = gathered_sample_week(sessions, settings)
    renderer = Renderer(settings.templates_dir)
    uncapped = dataclasses.replace(digest, max_launches=None)
    for key in (EVERYONE, "Design", "Developer Tools|Productivity"):
        assert renderer.render_segment(digest, key) == renderer.render_segment(uncapped, key)


def test_hidden_launches_and_comparisons_are_never_gathered(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_content(sessions)
    flood_week(sessions, flood=3, steady=1)
    hidden_at = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
    with sessions.begin() as session:
        session.execute(
            update(Tool)
            .where(Tool.slug.in_(["queryfox", "flood-tool-1"]))
            .values(hidden_at=hidden_at)
        )
        session.execute(
            update(Comparison)
            .where(Comparison.slug == "prismatic-canvas-vs-sketchloom")
            .values(hidden_at=hidden_at)
        )
    with sessions() as session:
        digest = gather_week(session, W48, settings)
        page = gather_launches(session, W48, settings, offset=0, limit=100)
    assert "prismatic-canvas-vs-sketchloom" not in {c.slug for c in digest.comparisons}
    launched = {launch.slug for launch in digest.launches}
    assert not {"queryfox", "flood-tool-1"} & launched
    # A hidden comparison covers nothing: its new tools are the week's launches.
    assert {"prismatic-canvas", "sketchloom", "flood-tool-0", "vellum-voice"} <= launched
    # The archive's page of the week's launches leaves the same ones out.
    # Vellum Voice, the comparison's two, flood tools 0 and 2, a steady one per category.
    assert page.total == len(digest.launches) == 1 + 2 + 2 + 2
    assert {launch.slug for launch in page.launches} == launched


SEED = "claude-files-api-vs-claude-haiku-open-weights"


def test_a_comparison_links_to_its_own_url_else_compare_url_else_the_site(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_content(sessions)
    with sessions.begin() as session:
        own = session.query(Comparison).filter_by(slug="prismatic-canvas-vs-sketchloom").one()
        own.url = "https://prismatic.example/vs-sketchloom"
    elsewhere = dataclasses.replace(settings, compare_url="https://main.example/c/{slug}?from=mail")
    with sessions() as session:
        by_default, configured = (
            {c.slug: c.url for c in gather_week(session, W48, each).comparisons}
            for each in (settings, elsewhere)
        )
    assert by_default[SEED] == f"https://verdicts.example/compare/{SEED}"
    assert configured[SEED] == f"https://main.example/c/{SEED}?from=mail"
    assert by_default["prismatic-canvas-vs-sketchloom"] == "https://prismatic.example/vs-sketchloom"
    assert configured["prismatic-canvas-vs-sketchloom"] == "https://prismatic.example/vs-sketchloom"


def test_one_comparison_is_gathered_as_the_digest_has_it_with_every_quote(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    digest = gathered_sample_week(sessions, settings)
    with sessions() as session:
        page = gather_comparison(session, SEED, settings)
    assert page == digest.comparisons[0]
    assert page is not None
    haiku = page.tools[1]
    assert [(q.seat, q.verdict) for q in haiku.quotes] == [
        (s.seat, s.verdict) for s in haiku.figures.split
    ]
    assert haiku.quotes[0].text.startswith("The primitive here is simple")
    # Whole, where the email's pull quote is cut.
    assert haiku.quote is not None and len(haiku.quotes[0].text) > len(haiku.quote.text)


def test_an_unknown_hidden_or_unpublished_comparison_is_not_gathered(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_content(sessions)
    with sessions.begin() as session:
        comparisons = {c.slug: c for c in session.query(Comparison)}
        comparisons[SEED].hidden_at = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
        comparisons["prismatic-canvas-vs-sketchloom"].published_at = None
    with sessions() as session:
        for slug in (SEED, "prismatic-canvas-vs-sketchloom", "no-such-comparison"):
            assert gather_comparison(session, slug, settings) is None, slug
        assert (
            gather_comparison(session, "loomwright-agents-vs-parcelbot-orchestrator", settings)
            is not None
        )
