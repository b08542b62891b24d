"""``digest lint``'s report: an edition's findings as one JSON document for a
script, or as lines of rich markup and a summary for a person.

Text from the edition and from the checks is escaped in the lines: a
subject, a URL or an image's ``src`` may hold [markup].
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from rich.markup import escape

from worker.domain.segments import segment_label
from worker.domain.weeks import Week
from worker.domain.words import plural
from worker.editor.lint.rules import Finding, Level
from worker.editor.page import finding_json
from worker.editor.preview import EditionLint

# The style of each level's name in the lines.
LEVEL_STYLES = {Level.ERROR: "bold red", Level.WARNING: "yellow", Level.INFO: "dim"}


def as_json(lint: EditionLint, week: Week) -> str:
    """The findings as one JSON document: each segment's (with why it has
    no message, if it has none), then the link check's."""
    document = {
        "week": str(week),
        "segments": [
            {
                "segment": segment.segment,
                "label": segment_label(segment.segment),
                "nothing": segment.nothing,
                "findings": [finding_json(f) for f in segment.findings],
            }
            for segment in lint.segments
        ],
        "links": [finding_json(f) for f in lint.links],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def lines(lint: EditionLint, week: Week, *, links_checked: bool) -> list[str]:
    """The findings as lines of rich markup: a heading per segment, then why
    it has no message or its findings one a line; with ``links_checked``,
    the link check's under a heading of their own."""
    sections: list[tuple[str, Iterable[Finding], str | None]] = [
        (segment_label(s.segment), s.findings, s.nothing) for s in lint.segments
    ]
    if links_checked:
        sections.append(("links of every segment", lint.links, None))
    shown = []
    for label, findings, nothing in sections:
        shown.append(f"[bold]{week} · {escape(label)}[/]")
        if nothing:
            shown.append(f"[dim]  {escape(nothing)}[/]")
        shown += [
            f"  [{LEVEL_STYLES[f.level]}]{f.level:<7}[/] {f.check}: {escape(f.message)}"
            for f in findings
        ]
    return shown


def summary(lint: EditionLint) -> str:
    """One line: how many errors and warnings, in how many segments."""
    every = lint.findings
    count = {level: sum(f.level == level for f in every) for level in Level}
    return (
        f"{plural(count[Level.ERROR], 'error')}, {plural(count[Level.WARNING], 'warning')} "
        f"in {plural(len(lint.segments), 'segment')}"
    )
