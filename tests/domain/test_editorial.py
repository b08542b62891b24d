"""Editors' files (worker/domain/editorial.py): the edition file and the
welcome copy read and checked, every problem on its line, and a week's
digest shaped by the edition file."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo

import pytest

from tests.support.digests import column, launch, seed_comparison, seed_digest
from worker.domain.digest import ComparisonBlock, Digest
from worker.domain.editorial import (
    EditionFile,
    EditorialFileError,
    ItemRef,
    UnknownItemsError,
    read_edition_file,
    read_welcome_copy,
    shape,
    unknown_items,
)

GOOD = """\
---
subject: "Files API or open weights? The panel splits"
preheader: Four comparisons and twelve launches, week 48
order: [claude-files-api-vs-claude-haiku-open-weights, launch:1002]
exclude:
  - launch:launch-1
  - comparison:prismatic-canvas-vs-sketchloom
send_at: 2026-12-01 07:30   # this week only
---

A short intro in **Markdown**, with [a link](https://verdicts.example/method).

- and a list
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(EditorialFileError) as raised:
        read_edition_file(text, "2026-W48.md")
    return raised.value.problems


def test_a_good_file_is_read_whole() -> None:
    edition = read_edition_file(GOOD, "2026-W48.md")
    assert edition.source == GOOD
    assert edition.subject == "Files API or open weights? The panel splits"
    assert edition.preheader == "Four comparisons and twelve launches, week 48"
    assert edition.order == (
        ItemRef(None, "claude-files-api-vs-claude-haiku-open-weights", 4),
        ItemRef("launch", "1002", 4),
    )
    assert [str(ref) for ref in edition.exclude] == [
        "launch:launch-1",
        "comparison:prismatic-canvas-vs-sketchloom",
    ]
    assert [ref.line for ref in edition.exclude] == [6, 7]
    assert edition.send_at == dt.datetime(2026, 12, 1, 7, 30)
    assert edition.send_at_line == 8
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    assert edition.send_at_in(berlin) == dt.datetime(2026, 12, 1, 7, 30, tzinfo=berlin)
    assert edition.intro.startswith("A short intro") and edition.intro.endswith("- and a list")
    assert edition.intro_line == 11


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "---\n---\n", "---\n# only comments\n---\n", "\ufeff---\n---\n"],
)
def test_everything_is_optional(text: str) -> None:
    edition = read_edition_file(text)
    assert (edition.subject, edition.order, edition.exclude, edition.send_at) == (
        None,
        (),
        (),
        None,
    )
    assert edition.intro == ""


def test_a_file_without_front_matter_is_all_intro() -> None:
    edition = read_edition_file("Just an intro.\n\nTwo paragraphs.\n")
    assert edition.intro == "Just an intro.\n\nTwo paragraphs."
    assert edition.intro_line == 1


# Each kind of problem, and the line it is on (the file's own numbering).
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\nsubject: x\n", "2026-W48.md:1: the front matter opened here is never closed"),
        ("---\nsubjet: x\n---\n", "2026-W48.md:2: subjet: not a field of this file (did you"),
        ("---\nfoo: 1\n---\n", "2026-W48.md:2: foo: not a field of this file; known: subject"),
        ("---\nsubject: x\norder: [a, b\n---\n", "2026-W48.md:3: not valid YAML:"),
        ("---\nsubject: x\n  bad: indent\n---\n", "2026-W48.md:3: not valid YAML: mapping"),
        ("---\n- a\n---\n", "2026-W48.md:2: the front matter must be 'field: value' lines"),
        ("---\nsubject: &a x\npreheader: *a\n---\n", "2026-W48.md:3: YAML aliases (*a)"),
        ("---\n\nsubject: 12\n---\n", "2026-W48.md:3: subject: must be text (put it in quotes)"),
        ("---\nsubject: ' '\n---\n", "2026-W48.md:2: subject: is empty: leave it out"),
        ('---\nsubject: "a\\nb"\n---\n', "2026-W48.md:2: subject: must be one line of text"),
        ("---\nsubject: " + "x" * 151 + "\n---\n", "2026-W48.md:2: subject: is 151 characters"),
        ("---\npreheader: " + "x" * 201 + "\n---\n", "2026-W48.md:2: preheader: is 201 characters"),
        ("---\norder: abc\n---\n", "2026-W48.md:2: order: must be a list"),
        ("---\nexclude:\n  - 12\n---\n", "2026-W48.md:3: exclude[0]: 12 is a bare number: write "),
        ("---\norder:\n  - a\n  - tool:x\n---\n", "2026-W48.md:4: order[1]: 'tool' is not a kind"),
        ("---\norder:\n  - Not A Slug\n---\n", "2026-W48.md:3: order[0]: 'Not A Slug' is not a"),
        ("---\norder:\n  - a\n  - a\n---\n", "2026-W48.md:4: order[1]: a is named twice"),
        ("---\norder: [a]\nexclude: [b, a]\n---\n", "2026-W48.md:2: order: a is also excluded"),
        ("---\nsend_at: 2026-02-30 07:30\n---\n", "2026-W48.md:2: send_at: '2026-02-30 07:30' is"),
        ("---\nsend_at: next tuesday\n---\n", "2026-W48.md:2: send_at: 'next tuesday' is not a"),
        ("---\nsend_at: 2026-12-01\n---\n", "2026-W48.md:2: send_at: 2026-12-01 is a day: give"),
        ("---\nsend_at: 2026-12-01T07:30:00Z\n---\n", "2026-W48.md:2: send_at: give the time"),
        ("---\n---\nHi\n\n<script>x</script>\n", "2026-W48.md:5: intro: HTML is not accepted"),
        ("---\n---\n\n\n[a](http://x.example)\n", "2026-W48.md:5: intro: a link must be https"),
        ("---\n---\n" + "x" * 10_001, "2026-W48.md:3: intro: is 10,001 characters; at most"),
    ],
)
def test_each_problem_is_named_with_its_line(text: str, expected: str) -> None:
    found = problems_of(text)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_every_problem_of_a_file_is_named_at_once() -> None:
    found = problems_of(
        "---\nsubject: 12\norder: [Bad Slug]\nsend_at: soon\n---\n<b>bold</b>\n",
    )
    assert [p.split(": ")[0] for p in found] == [
        "2026-W48.md:2",
        "2026-W48.md:3",
        "2026-W48.md:4",
        "2026-W48.md:6",
    ]


def test_a_send_at_with_seconds_is_read_to_the_minute() -> None:
    edition = read_edition_file("---\nsend_at: 2026-12-01 07:30:59\n---\n")
    assert edition.send_at == dt.datetime(2026, 12, 1, 7, 30)


def test_the_welcome_copy_has_its_own_fields() -> None:
    copy = read_welcome_copy('---\nsubject: "Welcome!"\n---\nGlad you are **here**.\n')
    assert (copy.subject, copy.preheader, copy.body) == ("Welcome!", None, "Glad you are **here**.")
    with pytest.raises(EditorialFileError) as raised:
        read_welcome_copy("---\norder: [a]\n---\n<em>hi</em>\n", "welcome.md")
    assert raised.value.problems == [
        "welcome.md:2: order: not a field of this file; known: subject, preheader",
        "welcome.md:4: body: HTML is not accepted (<em>hi</em>): write Markdown",
    ]


# Shaping a week's digest.


def week() -> Digest:
    """The seed comparison, a second comparison that shares a tool with it,
    a third, and three launches."""
    files_api, haiku = seed_comparison().tools
    other = column(3, "Loomwright Agents", ("ship",) * 4, "Paid", "A quote.")
    second = ComparisonBlock(
        slug="claude-files-api-vs-loomwright-agents",
        title="Claude Files API vs Loomwright Agents",
        summary=None,
        url="https://verdicts.example/compare/claude-files-api-vs-loomwright-agents",
        category="Developer Tools",
        tools=(files_api, other),
    )
    third = dataclasses.replace(second, slug="third", title="Third", tools=(haiku, other))
    # A launch whose slug is also a comparison's: a bare slug names the comparison.
    clash = dataclasses.replace(launch(3), slug="third")
    return dataclasses.replace(
        seed_digest(),
        comparisons=(seed_comparison(), second, third),
        launches=(launch(1), launch(2, "Design"), clash),
    )


def edition(front: str) -> EditionFile:
    return read_edition_file(f"---\n{front}\n---\n", "2026-W48.md")


def test_order_puts_its_items_first_in_its_order_and_the_rest_after() -> None:
    shaped = shape(week(), edition("order: [third, launch:launch-2, launch:1001]"))
    assert [c.slug for c in shaped.comparisons] == [
        "third",
        "claude-files-api-vs-claude-haiku-open-weights",
        "claude-files-api-vs-loomwright-agents",
    ]
    assert [x.tool_id for x in shaped.launches] == [1002, 1001, 1003]
    assert shaped.picks == (1002, 1001)


def test_a_bare_slug_is_a_comparisons_when_the_week_has_one_else_a_launchs() -> None:
    shaped = shape(week(), edition("exclude: [third, launch-1]"))
    assert [c.slug for c in shaped.comparisons] == [
        "claude-files-api-vs-claude-haiku-open-weights",
        "claude-files-api-vs-loomwright-agents",
    ]
    assert [x.slug for x in shaped.launches] == ["launch-2", "third"]  # the launch "third" stays
    only_launch = shape(week(), edition("exclude: [launch:third]"))
    assert len(only_launch.comparisons) == 3
    assert [x.slug for x in only_launch.launches] == ["launch-1", "launch-2"]


def test_an_excluded_comparisons_tools_still_appear_in_other_comparisons() -> None:
    shaped = shape(
        week(), edition("exclude: [comparison:claude-files-api-vs-claude-haiku-open-weights]")
    )
    assert [c.slug for c in shaped.comparisons] == [
        "claude-files-api-vs-loomwright-agents",
        "third",
    ]
    names = {tool.name for c in shaped.comparisons for tool in c.tools}
    assert {"Claude Files API", "Claude Haiku Open Weights"} <= names


def test_the_files_subject_preheader_and_intro_are_set() -> None:
    text = '---\nsubject: "S"\npreheader: "P"\n---\nHello **you**.\n'
    shaped = shape(week(), read_edition_file(text))
    assert (shaped.subject, shaped.preheader, shaped.intro) == ("S", "P", "Hello **you**.")
    plain = shape(week(), read_edition_file(""))
    assert (plain.subject, plain.preheader, plain.intro, plain.picks) == (None, None, None, ())
    assert plain.comparisons == week().comparisons and plain.launches == week().launches


def test_an_unknown_item_is_an_error_naming_its_line_or_passed_over() -> None:
    file = read_edition_file(
        "---\norder:\n  - launch:1001\n  - launch:999\nexclude: [comparison:launch-1, gone]\n---\n",
        "2026-W48.md",
    )
    expected = [
        "2026-W48.md:4: launch:999 is not in week 2026-W48's edition",
        "2026-W48.md:5: comparison:launch-1 is not in week 2026-W48's edition",
        "2026-W48.md:5: gone is not in week 2026-W48's edition",
    ]
    assert unknown_items(week(), file, "2026-W48.md") == expected
    with pytest.raises(UnknownItemsError) as raised:
        shape(week(), file, "2026-W48.md")
    assert raised.value.problems == expected
    lenient = shape(week(), file, strict=False)
    assert lenient.picks == (1001,) and len(lenient.launches) == 3
