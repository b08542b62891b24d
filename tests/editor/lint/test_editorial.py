"""The lint of the editor's own words (worker/editor/lint/editorial.py):
the intro's length, link texts and alt texts at the edition file's lines,
a subject repeated from last week, and items the file names that are gone;
then the same findings through the preview of a real store."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.sample import W48, load_sample
from worker.config import Settings
from worker.domain.editorial import read_edition_file
from worker.editor.lint.editorial import INTRO_WORDS, editorial_findings
from worker.editor.lint.rules import Finding, Level
from worker.editor.preview import compose_preview, message_findings, read_week
from worker.render.renderer import Renderer
from worker.store.models import Comparison, Edition, EditorCopy

FILE = """---
subject: "Files API or open weights?"
---
Two launches, one panel.

Read the method [here](https://verdicts.example/method) or [the FAQ](https://verdicts.example/faq).

![](https://verdicts.example/chart.png)
"""


def of(findings: list[Finding], check: str, level: Level | None = None) -> list[str]:
    return [f.message for f in findings if f.check == check and level in (None, f.level)]


def test_intro_links_and_images_are_named_at_their_file_lines() -> None:
    edition = read_edition_file(FILE, "W48.md")
    findings = editorial_findings(edition, "Files API or open weights?", None, ())
    assert of(findings, "intro", Level.WARNING) == [
        "W48.md:6: the link text “here” says nothing out of context: name where it goes "
        "(https://verdicts.example/method)",
        "W48.md:8: an image without alt text (https://verdicts.example/chart.png): write "
        "![what it shows](…), shown when images are off",
    ]
    assert of(findings, "intro", Level.INFO) == ["the intro is 11 words, 2 links"]


def test_a_long_intro_is_warned_of() -> None:
    words = " ".join(["verdict"] * (INTRO_WORDS + 1))
    edition = read_edition_file(f"---\n---\n{words}\n")
    assert of(editorial_findings(edition, "S", None, ()), "intro", Level.WARNING) == [
        f"the intro is {INTRO_WORDS + 1} words; past {INTRO_WORDS} it pushes the first "
        "verdict table below the fold on a phone"
    ]
    short = read_edition_file("A short note.")
    assert of(editorial_findings(short, "S", None, ()), "intro", Level.WARNING) == []


def test_last_weeks_subject_again_is_warned_of() -> None:
    warned = of(editorial_findings(None, "Files  API news", "files api NEWS", ()), "subject")
    assert warned == [
        "the subject is last week's too: “Files  API news”; readers skip what looks read"
    ]
    assert of(editorial_findings(None, "Files API news", "Other news", ()), "subject") == []
    assert of(editorial_findings(None, "Files API news", None, ()), "subject") == []


def test_a_file_without_intro_and_subject_has_nothing_to_say() -> None:
    assert editorial_findings(read_edition_file(""), "S", None, ()) == []


def test_the_preview_lints_the_stored_file_last_weeks_subject_and_gone_items(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_sample(sessions)
    text = (
        "---\n"
        "subject: Same as last week\n"
        "order: [prismatic-canvas-vs-sketchloom]\n"
        "---\n"
        "Welcome to week 48, [here](https://verdicts.example/x).\n"
    )
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    with sessions.begin() as session:
        session.add(EditorCopy(list_id=settings.list_id, name=str(W48), source=text))
        session.add(
            Edition(
                list_id=settings.list_id,
                week="2026-W47",
                status="sent",
                subject="Same as LAST week",
                sent_at=now,
            )
        )
        # Hidden after the file named it: the send goes on without it.
        session.execute(
            update(Comparison)
            .where(Comparison.slug == "prismatic-canvas-vs-sketchloom")
            .values(hidden_at=now)
        )
    with sessions() as session:
        source = read_week(session, W48, settings)
    assert source.previous_subject == "Same as LAST week"
    assert source.edition_file is not None and source.edition_file.subject == "Same as last week"
    assert "prismatic-canvas-vs-sketchloom" not in [c.slug for c in source.digest.comparisons]
    preview = compose_preview(source, "", Renderer(settings.templates_dir), settings)
    assert preview.subject == "Same as last week"
    findings = message_findings(source, preview, settings, [])
    assert of(findings, "edition-file") == [
        "edition file 2026-W48:3: prismatic-canvas-vs-sketchloom is not in week 2026-W48's "
        "edition (hidden or removed since the file was stored)"
    ]
    assert of(findings, "subject", Level.WARNING) == [
        "the subject is last week's too: “Same as last week”; readers skip what looks read"
    ]
    assert of(findings, "intro", Level.WARNING) == [
        "edition file 2026-W48:5: the link text “here” says nothing out of context: name "
        "where it goes (https://verdicts.example/x)"
    ]
