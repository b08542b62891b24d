"""The live preview (worker/editor/live.py): its watcher thread sees real
template and store edits, a broken template until the next save, an
edition whose deliveries fix what it shows, and a long poll that waits
while nothing changes."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.preview import (
    CHANGE_TIMEOUT,
    DIGEST_TEMPLATE,
    FILES_API_TAGLINE,
    FOOTER,
    edit,
    get,
    wait_for,
    wait_for_store_reads,
    watching,
)
from worker.config import Settings
from worker.deliver.editions import build_edition, start_edition
from worker.editor.live import LivePreview
from worker.editor.page import PageRenderer
from worker.editor.sample import SAMPLE_WEEK, SampleStore, load_sample
from worker.editor.server import serving
from worker.render.renderer import Renderer
from worker.store.models import EditionSegment, Tool


def test_a_template_edit_shows_without_a_reload(settings: Settings, templates: Path) -> None:
    config = replace(settings, templates_dir=templates)
    live = LivePreview(config, SAMPLE_WEEK, sample=SampleStore(config), spam=False)
    with watching(live):
        before = live.payload("")
        assert before["error"] is None and "EDITED-FOOTER" not in before["html"]
        edit(templates / DIGEST_TEMPLATE, FOOTER, "EDITED-FOOTER " + FOOTER)
        moved = live.wait_for_change(before["version"], CHANGE_TIMEOUT)
        assert moved > before["version"]
        after = wait_for(live, "", lambda p: "EDITED-FOOTER" in (p.get("html") or ""))
        assert after["version"] > before["version"]
        assert after["error"] is None and after["subject"] == before["subject"]

        # The text template is watched too.
        edit(
            templates / "email" / "digest.txt.j2",
            "{{ digest.list_name",
            "EDITED-TEXT {{ digest.list_name",
        )
        wait_for(live, "", lambda p: "EDITED-TEXT" in (p.get("text") or ""))


def test_a_broken_template_names_the_place_and_the_next_save_recovers(
    settings: Settings, templates: Path
) -> None:
    path = templates / DIGEST_TEMPLATE
    good = path.read_text(encoding="utf-8")
    lines = good.splitlines(keepends=True)
    config = replace(settings, templates_dir=templates)
    live = LivePreview(config, SAMPLE_WEEK, sample=SampleStore(config), spam=False)
    with watching(live):
        assert live.payload("")["error"] is None
        # Line 5 gets an unclosed block tag.
        path.write_text("".join([*lines[:4], "{% if %}\n", *lines[4:]]), encoding="utf-8")
        broken = wait_for(live, "", lambda p: bool(p["error"]))
        assert "digest.mjml.j2:5:" in broken["error"], broken["error"]
        assert "html" not in broken  # nothing stale posing as the current message
        path.write_text(good.replace(FOOTER, "FIXED " + FOOTER), encoding="utf-8")
        fixed = wait_for(live, "", lambda p: p["error"] is None)
        assert "FIXED " + FOOTER in fixed["html"]
        assert fixed["version"] > broken["version"]


def test_a_store_change_shows(
    sessions: sessionmaker[Session], database_url: str, settings: Settings
) -> None:
    config = replace(settings, database_url=database_url)
    load_sample(sessions, config)
    live = LivePreview(config, SAMPLE_WEEK, spam=False)
    with watching(live):
        before = live.payload("Developer Tools")
        assert FILES_API_TAGLINE in before["html"] and before["stored"] is False
        with sessions.begin() as session:
            session.execute(
                update(Tool)
                .where(Tool.slug == "claude-files-api")
                .values(tagline="Files that stay put (edited in the store)")
            )
        after = wait_for(
            live, "Developer Tools", lambda p: "Files that stay put" in (p.get("html") or "")
        )
        assert FILES_API_TAGLINE not in after["html"]
        assert "Files that stay put" in after["text"]


def test_an_edition_with_deliveries_shows_its_stored_render(
    sessions: sessionmaker[Session], database_url: str, settings: Settings, templates: Path
) -> None:
    config = replace(settings, database_url=database_url, templates_dir=templates)
    load_sample(sessions, config)
    build_edition(sessions, SAMPLE_WEEK, config, Renderer(templates))
    assert start_edition(sessions, SAMPLE_WEEK, config).started
    live = LivePreview(config, SAMPLE_WEEK, spam=False)
    with watching(live):
        payload, preview = live.built("")
        assert preview is not None and payload["stored"] is True
        assert payload["edition"] == "sending"
        with sessions() as session:
            stored = session.scalars(
                select(EditionSegment).where(EditionSegment.segment == "")
            ).one()
            assert (preview.parts.subject, preview.parts.html, preview.parts.text) == (
                stored.subject,
                stored.html,
                stored.text,
            )
        edit(templates / DIGEST_TEMPLATE, FOOTER, "TOO-LATE " + FOOTER)
        # The watcher sees the edit (the version moves), yet what went out stays.
        assert live.wait_for_change(payload["version"], CHANGE_TIMEOUT) > payload["version"]
        after, shown = live.built("")
        assert after["version"] > payload["version"] and after["stored"] is True
        assert shown is not None and shown.parts == preview.parts
        assert "TOO-LATE" not in after["html"]


def test_the_long_poll_waits_while_nothing_changes(
    settings: Settings, templates: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="worker.preview")
    config = replace(settings, templates_dir=templates)
    live = LivePreview(config, SAMPLE_WEEK, sample=SampleStore(config), spam=False)
    with serving(live, PageRenderer(templates)) as server:
        version = live.version
        # The watcher reads the store again and again: the same week read
        # again is no change.
        wait_for_store_reads(caplog, 3)
        assert live.wait_for_change(version, 0) == version
        assert live.payload("")["version"] == version

        # A page waiting on /api/changes, and a waiter here, both learn of an edit.
        seen: dict[str, int] = {}
        changes = f"{server.url}api/changes?since={version}"

        def page() -> None:
            seen["page"] = json.loads(get(changes))["version"]

        def here() -> None:
            seen["here"] = live.wait_for_change(version, CHANGE_TIMEOUT)

        waiters = [threading.Thread(target=page), threading.Thread(target=here)]
        for waiter in waiters:
            waiter.start()
        edit(templates / DIGEST_TEMPLATE, FOOTER, "WAKE-UP " + FOOTER)
        for waiter in waiters:
            waiter.join(CHANGE_TIMEOUT + 5)
        assert seen.keys() == {"page", "here"}, seen
        assert seen["page"] > version and seen["here"] > version


def test_an_edition_file_being_written_shows_on_save_and_a_bad_save_names_its_line(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "2026-W48.md"
    path.write_text('---\nsubject: "First draft"\n---\nHello, **readers**.\n', encoding="utf-8")
    live = LivePreview(
        settings, SAMPLE_WEEK, sample=SampleStore(settings), spam=False, edition_path=path
    )
    with watching(live):
        first = live.payload("")
        assert first["error"] is None and first["subject"] == "First draft"
        assert "<strong>readers</strong>" in first["html"]

        path.write_text('---\nsubject: "Second draft"\n---\nHi <script>x</script>\n')
        broken = wait_for(live, "", lambda p: p["error"] is not None)
        assert "2026-W48.md:4: intro: HTML is not accepted" in broken["error"]

        path.write_text(
            '---\nsubject: "Second draft"\nexclude: [comparison:prismatic-canvas-vs-sketchloom]\n'
            "---\nHi again.\n"
        )
        fixed = wait_for(live, "", lambda p: p.get("subject") == "Second draft")
        assert fixed["error"] is None and "Hi again." in fixed["html"]
        assert "Prismatic Canvas vs Sketchloom" not in fixed["html"]
