"""Segments: a category choice as one key, and the digest narrowed to it."""

from __future__ import annotations

from tests.support.digests import SITE, column, digest, launch, seed_comparison
from worker.domain.digest import ComparisonBlock
from worker.domain.segments import (
    EVERYONE,
    digest_for_segment,
    parse_segment,
    segment_categories,
    segment_key,
    segment_label,
)


def test_a_choice_has_one_key_however_it_is_written() -> None:
    assert segment_key(["Productivity", " Design", "Design", "", "  "]) == "Design|Productivity"
    assert parse_segment("Productivity, Design") == "Design|Productivity"
    assert parse_segment("Design|Productivity") == "Design|Productivity"
    assert parse_segment(None) == parse_segment(" ") == EVERYONE
    assert segment_categories("Design|Productivity") == ("Design", "Productivity")
    assert segment_categories(EVERYONE) == ()
    assert segment_label("Design|Productivity") == "Design, Productivity"
    assert segment_label(EVERYONE) == "every category"


def test_a_segment_keeps_only_its_categories() -> None:
    mixed = ComparisonBlock(
        slug="sketch-vs-chart",
        title="Sketch Tool vs Chart Tool",
        summary=None,
        url=f"{SITE}/compare/sketch-vs-chart",
        category="Design",
        tools=(
            column(5, "Sketch Tool", ("ship",), "Free", "Fine.", category="Design"),
            column(6, "Chart Tool", ("skip",), "Paid", "No.", category="Data & Analytics"),
        ),
    )
    seed = seed_comparison()  # Developer Tools
    week = digest((seed, mixed), (launch(1), launch(2, "Design"), launch(3, "Data & Analytics")))
    design = digest_for_segment(week, "Design")
    assert [c.slug for c in design.comparisons] == [mixed.slug]
    assert [x.slug for x in design.launches] == ["launch-2"]
    assert design.categories == ("Design",)
    # Any one tool of a comparison brings it in; categories match in any case.
    data = digest_for_segment(week, "data & analytics|developer tools")
    assert [c.slug for c in data.comparisons] == [seed.slug, mixed.slug]
    assert [x.slug for x in data.launches] == ["launch-3"]
    assert digest_for_segment(week, EVERYONE) is week
