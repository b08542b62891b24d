"""``digest lint``'s report: the findings as JSON, as lines of markup and as
a summary line."""

from __future__ import annotations

import io
import json

from rich.console import Console

from worker.domain.weeks import Week
from worker.editor.lint.rules import Finding, Level
from worker.editor.lint_report import as_json, lines, summary
from worker.editor.preview import EditionLint, SegmentLint

WEEK = Week(2026, 48)
# Every category (with a warning and an error whose message holds
# [markup]), a segment with no message, and one link that failed.
LINT = EditionLint(
    segments=(
        SegmentLint(
            "",
            (
                Finding(Level.ERROR, "image-alt", "image without alt text: [bold]x.png"),
                Finding(Level.WARNING, "subject", "subject is long"),
                Finding(Level.INFO, "size", "HTML is 40 KB"),
            ),
        ),
        SegmentLint("Design|Productivity", (), nothing="no [news] for this segment"),
    ),
    links=(Finding(Level.ERROR, "links", "https://gone.example/: HTTP 404"),),
)


def shown(markup: list[str]) -> list[str]:
    """The lines as a terminal without colours shows them."""
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None, soft_wrap=True)
    for line in markup:
        console.print(line, highlight=False)
    return out.getvalue().splitlines()


def test_the_json_document_has_each_segment_then_the_links() -> None:
    document = json.loads(as_json(LINT, WEEK))
    assert document == {
        "week": "2026-W48",
        "segments": [
            {
                "segment": "",
                "label": "every category",
                "nothing": None,
                "findings": [
                    {
                        "level": "error",
                        "check": "image-alt",
                        "message": "image without alt text: [bold]x.png",
                    },
                    {"level": "warning", "check": "subject", "message": "subject is long"},
                    {"level": "info", "check": "size", "message": "HTML is 40 KB"},
                ],
            },
            {
                "segment": "Design|Productivity",
                "label": "Design, Productivity",
                "nothing": "no [news] for this segment",
                "findings": [],
            },
        ],
        "links": [
            {"level": "error", "check": "links", "message": "https://gone.example/: HTTP 404"}
        ],
    }


def test_the_json_document_keeps_text_as_it_is() -> None:
    lint = EditionLint((SegmentLint("", (Finding(Level.INFO, "subject", "Zoë’s «picks»"),)),))
    assert '"message": "Zoë’s «picks»"' in as_json(lint, WEEK)


def test_the_lines_head_each_segment_and_escape_what_they_quote() -> None:
    assert shown(lines(LINT, WEEK, links_checked=False)) == [
        "2026-W48 · every category",
        "  error   image-alt: image without alt text: [bold]x.png",
        "  warning subject: subject is long",
        "  info    size: HTML is 40 KB",
        "2026-W48 · Design, Productivity",
        "  no [news] for this segment",
    ]


def test_the_lines_style_each_level() -> None:
    markup = lines(LINT, WEEK, links_checked=False)
    assert markup[0] == "[bold]2026-W48 · every category[/]"
    assert markup[1].startswith("  [bold red]error  [/] image-alt: ")
    assert markup[2].startswith("  [yellow]warning[/] subject: ")
    assert markup[3].startswith("  [dim]info   [/] size: ")
    assert markup[5] == r"[dim]  no \[news] for this segment[/]"


def test_checked_links_have_a_section_of_their_own() -> None:
    assert shown(lines(LINT, WEEK, links_checked=True))[-2:] == [
        "2026-W48 · links of every segment",
        "  error   links: https://gone.example/: HTTP 404",
    ]
    nothing_found = EditionLint(LINT.segments)
    assert shown(lines(nothing_found, WEEK, links_checked=True))[-1] == (
        "2026-W48 · links of every segment"
    )


def test_the_summary_counts_errors_and_warnings_of_segments_and_links() -> None:
    assert summary(LINT) == "2 errors, 1 warning in 2 segments"
    assert summary(EditionLint(())) == "0 errors, 0 warnings in 0 segments"
