"""A week's edition file kept in the store (worker/editor/editionfile.py):
checked against the week, stored with it, read back, refused whole with
each bad line named, refused once the edition has started, and the
week's unsent edition rebuilt when it changes. Both stores."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.digests import flooded_digest
from tests.support.sample import W48, build_sample_week, load_content, load_sample
from worker.config import Settings
from worker.deliver.approvals import approve_edition
from worker.deliver.editions import (
    EditionStateError,
    build_edition,
    cancel_edition,
    set_paused,
    start_edition,
)
from worker.domain.editorial import EditionFile, EditorialFileError, read_edition_file
from worker.domain.weeks import Week
from worker.editor.editionfile import (
    FILE_MAX,
    NOTHING_NEW,
    Saved,
    check_edition_file,
    draft,
    file_week,
    read_file,
    save_edition_file,
    stored_edition_file,
    template,
    week_effect,
)
from worker.gather import gather_computed, gather_week
from worker.render.renderer import Renderer, subject_for
from worker.store.models import Edition, EditionSegment, EditorCopy, Tool

# Before the sample week's send (Tuesday 1 December, 09:00 in Berlin).
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
SEED = "claude-files-api-vs-claude-haiku-open-weights"


def tool_id(sessions: sessionmaker[Session], slug: str) -> int:
    with sessions() as session:
        found = session.scalar(select(Tool.id).where(Tool.slug == slug))
    assert found is not None
    return found


def save(sessions: sessionmaker[Session], settings: Settings, text: str, week: Week = W48) -> Saved:
    return save_edition_file(
        sessions,
        week,
        settings,
        text,
        source="2026-W48.md",
        by="ada",
        renderer=Renderer(settings.templates_dir),
        now=NOW,
    )


def copies(sessions: sessionmaker[Session]) -> list[EditorCopy]:
    with sessions() as session:
        return list(session.scalars(select(EditorCopy)))


def test_a_file_is_stored_with_its_week_and_read_back(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_content(sessions)
    queryfox = tool_id(sessions, "queryfox")
    text = (
        "---\n"
        'subject: "Files API or open weights?"\n'
        f"order: [loomwright-agents-vs-parcelbot-orchestrator, launch:{queryfox}]\n"
        "exclude: [comparison:prismatic-canvas-vs-sketchloom]\n"
        "send_at: 2026-12-01 07:30\n"
        "---\n"
        "The panel **splits**.\n"
    )
    save(sessions, settings, text)

    (copy,) = copies(sessions)
    assert (copy.list_id, copy.name, copy.source, copy.updated_by) == (
        "weekly",
        "2026-W48",
        text,
        "ada",
    )
    # 07:30 in Berlin (CET, UTC+1) is 06:30 UTC; kept for the clock.
    assert copy.send_at == dt.datetime(2026, 12, 1, 6, 30, tzinfo=dt.UTC)
    assert copy.updated_at == NOW
    stored = stored_edition_file(sessions, W48, settings)
    assert stored is not None and stored.file.source == text and stored.updated_by == "ada"
    assert draft(sessions, W48, settings).text == text

    # Gather shapes the week by it.
    with sessions() as session:
        shaped = gather_week(session, W48, settings)
    assert shaped.subject == "Files API or open weights?"
    assert shaped.comparisons[0].slug == "loomwright-agents-vs-parcelbot-orchestrator"
    assert "prismatic-canvas-vs-sketchloom" not in {c.slug for c in shaped.comparisons}
    assert shaped.picks == (queryfox,)

    # Saved again, it replaces the first.
    save(sessions, settings, "---\nsubject: Second thoughts\n---\n")
    (copy,) = copies(sessions)
    assert copy.source == "---\nsubject: Second thoughts\n---\n" and copy.send_at is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("---\norder:\n  - no-such-comparison\n---\n", "2026-W48.md:3: no-such-comparison is"),
        ("---\nexclude: [launch:999999]\n---\n", "2026-W48.md:2: launch:999999 is not in week"),
        ("---\nsend_at: 2026-12-32 07:30\n---\n", "2026-W48.md:2: send_at: '2026-12-32 07:30'"),
        ("---\nsubject: 'open\norder: [a\n---\n", "2026-W48.md:3: not valid YAML"),
        ("---\n---\nHello.\n\n<script>alert(1)</script>\n", "2026-W48.md:5: intro: HTML is"),
        ("---\nsend_at: 2026-11-30 07:30\n---\n", "2026-W48.md:2: send_at: 2026-11-30 07:30 is in"),
        ("---\nsend_at: 2027-03-28 02:30\n---\n", "2026-W48.md:2: send_at: 2027-03-28 02:30 does"),
    ],
)
def test_a_bad_file_is_one_error_naming_its_line_and_changes_nothing(
    sessions: sessionmaker[Session], settings: Settings, body: str, expected: str
) -> None:
    build_sample_week(sessions, settings)
    save(sessions, settings, "---\nsubject: As it was\n---\n")
    with sessions() as session:
        before = session.scalars(select(EditionSegment.html).order_by(EditionSegment.id)).all()

    with pytest.raises(EditorialFileError) as raised:
        save(sessions, settings, body)
    (problem,) = raised.value.problems
    assert problem.startswith(expected), problem
    with pytest.raises(EditorialFileError):
        check_edition_file(sessions, W48, settings, body, "2026-W48.md", now=NOW)

    (copy,) = copies(sessions)
    assert copy.source == "---\nsubject: As it was\n---\n"
    with sessions() as session:
        after = session.scalars(select(EditionSegment.html).order_by(EditionSegment.id)).all()
    assert after == before


def test_a_past_send_at_says_what_time_it_is(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_content(sessions)
    with pytest.raises(EditorialFileError) as raised:
        save(sessions, settings, "---\nsend_at: 2026-11-30 13:00\n---\n")
    assert raised.value.problems == [
        "2026-W48.md:2: send_at: 2026-11-30 13:00 is in the past "
        "(it is 2026-11-30 13:00 in Europe/Berlin)"
    ]
    assert copies(sessions) == []


@pytest.mark.parametrize("state", ["sending", "paused", "sent", "cancelled"])
def test_an_edition_that_started_refuses_any_change(
    sessions: sessionmaker[Session], settings: Settings, state: str
) -> None:
    build_sample_week(sessions, settings)
    save(sessions, settings, "---\nsubject: Before the send\n---\n")
    start_edition(sessions, W48, settings)
    if state == "paused":
        set_paused(sessions, W48, settings, paused=True)
    elif state == "cancelled":
        cancel_edition(sessions, W48, settings)
    elif state == "sent":
        with sessions.begin() as session:
            session.execute(update(Edition).values(status="sent"))

    for attempt in (
        lambda: save(sessions, settings, "---\nsubject: After\n---\n"),
        lambda: check_edition_file(sessions, W48, settings, "", "2026-W48.md", now=NOW),
    ):
        with pytest.raises(EditionStateError) as raised:
            attempt()
        assert str(raised.value) == (
            f"2026-W48 is already {state}: its edition file can no longer change"
        )
    (copy,) = copies(sessions)
    assert copy.source == "---\nsubject: Before the send\n---\n"


def test_a_ready_edition_is_rebuilt_and_its_approval_withdrawn(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    build_sample_week(sessions, settings)
    approve_edition(sessions, W48, settings, "bea", NOW)

    saved = save(sessions, settings, '---\nsubject: "A better subject"\n---\nHello, readers.\n')

    assert saved.rebuilt is not None and saved.rebuilt.built
    assert saved.approval_withdrawn
    with sessions() as session:
        edition = session.scalars(select(Edition)).one()
        assert (edition.status, edition.approved_at, edition.subject) == (
            "ready",
            None,
            "A better subject",
        )
        renders = session.scalars(select(EditionSegment)).all()
    assert renders and all(r.subject == "A better subject" for r in renders)
    assert all("Hello, readers." in r.html and "Hello, readers." in r.text for r in renders)


def test_saving_the_same_again_changes_nothing_and_keeps_the_approval(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    build_sample_week(sessions, settings)
    untouched = draft(sessions, W48, settings).text
    assert not save(sessions, settings, untouched).changed  # the template does nothing
    assert copies(sessions) == []
    text = "---\nsubject: Once\n---\n"
    assert save(sessions, settings, text).changed
    approve_edition(sessions, W48, settings, "bea", NOW)
    again = save(sessions, settings, text + "\n")  # an editor's extra newline
    assert (again.changed, again.rebuilt, again.approval_withdrawn) == (False, None, False)
    with sessions() as session:
        assert session.scalars(select(Edition.approved_by)).one() == "bea"
    (copy,) = copies(sessions)
    assert copy.source == text


def test_a_week_without_an_edition_keeps_the_file_for_its_build(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_sample(sessions)
    saved = save(sessions, settings, "---\nsubject: For the build\n---\n")
    assert saved.rebuilt is None and not saved.approval_withdrawn
    with sessions() as session:
        assert session.scalars(select(Edition)).all() == []
    built = build_sample_week(sessions, settings)
    assert built.subject == "For the build"


def test_a_skipped_week_takes_a_file_and_stays_skipped(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    empty = Week(2026, 40)
    load_content(sessions)
    assert build_edition(sessions, empty, settings, Renderer(settings.templates_dir)).status == (
        "skipped"
    )
    assert "#   none: nothing new this week" in draft(sessions, empty, settings).text
    saved = save(sessions, settings, "An intro for a quiet week.\n", week=empty)
    assert saved.rebuilt is not None and saved.rebuilt.status == "skipped"
    assert saved.effect.subject == NOTHING_NEW
    assert [c.name for c in copies(sessions)] == ["2026-W40"]


def test_what_a_file_does_and_what_it_names_that_is_gone_since(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_content(sessions)
    queryfox = tool_id(sessions, "queryfox")
    save(sessions, settings, f"---\norder: [launch:{queryfox}, {SEED}]\n---\nHi **there**.\n")
    with sessions.begin() as session:
        session.execute(update(Tool).where(Tool.id == queryfox).values(hidden_at=NOW))

    stored = stored_edition_file(sessions, W48, settings)
    assert stored is not None
    effect = week_effect(sessions, W48, settings, stored.file)
    assert effect.order == (f"launch:{queryfox}", SEED)
    assert effect.missing == (
        f"2026-W48.md:2: launch:{queryfox} is not in week 2026-W48's edition",
    )
    assert not effect.subject_set and effect.subject.startswith("Claude Files API vs")
    assert (effect.send_at, effect.intro_length) == (None, len("Hi **there**."))

    computed = week_effect(sessions, W48, settings, EditionFile())
    with sessions() as session:
        assert computed.subject == subject_for(gather_computed(session, W48, settings))


def test_a_new_file_starts_from_the_computed_values_and_the_weeks_items(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    load_sample(sessions)
    start = draft(sessions, W48, settings)
    assert not start.stored
    with sessions() as session:
        digest = gather_computed(session, W48, settings)
    assert start.text == template(digest, "Europe/Berlin")
    lines = start.text.splitlines()
    assert f'# subject: "{subject_for(digest)}"' in lines
    assert any(line.startswith('# preheader: "Panel verdicts on 4 comparisons') for line in lines)
    assert any(
        line.startswith("# send_at: YYYY-MM-DD HH:MM   # in Europe/Berlin") for line in lines
    )
    items = [line for line in lines if line.startswith("#   ")]
    assert items[0].split() == [
        "#",
        SEED,
        "Claude",
        "Files",
        "API",
        "vs",
        "Claude",
        "Haiku",
        "Open",
        "Weights",
    ]
    assert f"#   launch:{tool_id(sessions, 'queryfox')}" in "\n".join(items)
    assert "Queryfox (Data & Analytics)" in start.text
    # As it is, it is an edition file that changes nothing.
    unchanged = read_edition_file(start.text)
    assert (unchanged.subject, unchanged.preheader, unchanged.send_at) == (None, None, None)
    assert (unchanged.order, unchanged.exclude, unchanged.intro) == ((), (), "")


def test_the_template_marks_the_launches_the_cap_leaves_out() -> None:
    text = template(flooded_digest(150), "UTC")
    lines = text.splitlines()
    marker = lines.index("#   (DIGEST_MAX_LAUNCHES shows 40; these only if order names them:)")
    launches = [line for line in lines if line.startswith("#   launch:")]
    assert len(launches) == 100 and lines[marker - 1].startswith("#   launch:")
    assert sum(line.startswith("#   launch:") for line in lines[:marker]) == 40
    assert lines[-3] == "#   … and 50 more: digest content list --week 2026-W48 --kind launches"


def test_a_files_week_comes_from_its_name() -> None:
    assert file_week(Path("editions/2026-W48.md")) == W48
    assert file_week(Path("2026-W48.txt")) == W48
    for other in ("week48.md", "2026-W54.md", "2026-W48-draft.md", "2026-w48.md"):
        assert file_week(Path(other)) is None, other


def test_a_file_that_cannot_be_read_is_refused_whole(tmp_path: Path) -> None:
    missing = tmp_path / "2026-W48.md"
    with pytest.raises(EditorialFileError, match="cannot read: No such file or directory"):
        read_file(missing)
    missing.write_bytes(b"---\nsubject: ok\n---\n\xff\xfe\n")
    with pytest.raises(EditorialFileError) as raised:
        read_file(missing)
    assert raised.value.problems == [f"{missing}:4: not UTF-8 text"]
    missing.write_bytes(b"x" * (FILE_MAX + 1))
    with pytest.raises(EditorialFileError, match="larger than 64 KB"):
        read_file(missing)
    missing.write_text("---\nsubject: fine\n---\n", encoding="utf-8")
    assert read_file(missing) == "---\nsubject: fine\n---\n"
