"""`digest edition edit|show|import|export` as an editor runs them, with
$EDITOR a script that writes the file: a new file seeded with the week,
bad files refused with their lines and nothing stored, a started edition
refused, a ready one rebuilt. Both stores."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.cli import CliRunnerCall
from tests.support.editor import Editor
from tests.support.sample import W48, build_sample_week, load_sample
from worker.cli import main
from worker.config import Settings
from worker.deliver.approvals import approve_edition
from worker.deliver.editions import start_edition
from worker.domain.weeks import week_of
from worker.now import process_now
from worker.store.models import Edition, EditionSegment, EditorCopy, Tool

SEED = "claude-files-api-vs-claude-haiku-open-weights"


@pytest.fixture
def digest(database_url: str) -> CliRunnerCall:
    call = CliRunnerCall(database_url)
    call.env.update({"DIGEST_TIMEZONE": "Europe/Berlin", "VISUAL": None})  # type: ignore[dict-item]
    return call


def editing(digest: CliRunnerCall, editor: Editor, *args: str, answers: str = "") -> Result:
    digest.env["EDITOR"] = str(editor.command)
    return CliRunner().invoke(
        main, ["edition", "edit", *args], env=digest.env, input=answers, catch_exceptions=False
    )


def stored(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(EditorCopy.source)))


def tool_id(sessions: sessionmaker[Session], slug: str) -> int:
    with sessions() as session:
        found = session.scalar(select(Tool.id).where(Tool.slug == slug))
    assert found is not None
    return found


def test_edit_seeds_a_new_file_stores_it_and_rebuilds_the_ready_edition(
    digest: CliRunnerCall, sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    build_sample_week(sessions, settings)
    approve_edition(sessions, W48, settings, "bea", process_now())
    queryfox = tool_id(sessions, "queryfox")
    text = (
        "---\n"
        'subject: "Files API or open weights? The panel splits"\n'
        f"order: [loomwright-agents-vs-parcelbot-orchestrator, launch:{queryfox}]\n"
        "exclude: [comparison:prismatic-canvas-vs-sketchloom]\n"
        "---\n"
        "The panel **splits** this week.\n"
    )
    editor = Editor(tmp_path / "editor", text)

    result = editing(digest, editor, "--week", "2026-W48")

    assert result.exit_code == 0, result.output
    seeded = editor.seen()
    assert seeded.startswith("---\n# The edition file of 2026-W48.")
    assert (
        '# subject: "Claude Files API vs Claude Haiku Open Weights + 3 more comparisons"' in seeded
    )
    assert f"#   {SEED}  " in seeded and f"#   launch:{queryfox}  " in seeded
    assert stored(sessions) == [text]
    lines = result.stdout.splitlines()
    assert lines[:7] == [
        "2026-W48: edition file saved",
        "  subject    Files API or open weights? The panel splits",
        "  preheader  Panel verdicts on 3 comparisons and 2 new launches, week of Nov 23. "
        "(computed)",
        f"  order      loomwright-agents-vs-parcelbot-orchestrator, launch:{queryfox}",
        "  excluded   comparison:prismatic-canvas-vs-sketchloom",
        "  send_at    as the schedule says (DIGEST_SEND_AT)",
        "  intro      31 characters",
    ]
    assert lines[7] == (
        "2026-W48: edition rebuilt \u201cFiles API or open weights? The panel splits\u201d "
        "for 5 segments"
    )
    assert lines[8].startswith("2026-W48: the rebuild withdrew the edition's approval;")
    with sessions() as session:
        edition = session.scalars(select(Edition)).one()
        assert (edition.approved_at, edition.subject) == (
            None,
            "Files API or open weights? The panel splits",
        )

    # Edited again: the editor opens the file as stored; saved unchanged, nothing changes.
    again = Editor(tmp_path / "again", text)
    result = editing(digest, again, "--week", "2026-W48")
    assert result.exit_code == 0 and again.seen() == text
    assert "2026-W48: not changed; the edition file is as it was" in result.stdout
    assert "rebuilt" not in result.stdout


def test_send_at_is_checked_against_the_schedule(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Weeks counted from today: a send_at that is still to come and fits
    the schedule (after its week, before the next week's Tuesday 09:00)."""
    zone = ZoneInfo("Europe/Berlin")
    this = week_of(process_now(), zone)
    tuesday = this.monday + dt.timedelta(days=8)  # the regular send's day
    export = digest("edition", "export", "--week", str(this))
    assert f"# send_at: {tuesday:%Y-%m-%d} 09:00   # in Europe/Berlin, this week only; " in (
        export.stdout
    )

    good = tmp_path / f"{this}.md"
    good.write_text(f"---\nsend_at: {tuesday:%Y-%m-%d} 07:30\n---\n", encoding="utf-8")
    saved = digest("edition", "import", str(good))
    assert saved.exit_code == 0, saved.output
    assert f"  send_at    {tuesday:%Y-%m-%d} 07:30 " in saved.stdout

    following = this.next()
    early = tmp_path / f"{following}.md"
    wednesday = following.monday + dt.timedelta(days=2)
    early.write_text(f"---\nsend_at: {wednesday:%Y-%m-%d} 07:30\n---\n", encoding="utf-8")
    refused = digest("edition", "import", str(early))
    assert refused.exit_code == 1
    assert f"{early}:2: send_at: " in refused.stderr
    assert f"is before {following} is over" in refused.stderr

    late = tmp_path / "late.md"
    week_after = tuesday + dt.timedelta(days=8)
    late.write_text(f"---\nsend_at: {week_after:%Y-%m-%d} 07:30\n---\n", encoding="utf-8")
    refused = digest("edition", "import", str(late), "--week", str(this))
    assert refused.exit_code == 1 and f"{late}:2: send_at: " in refused.stderr
    assert stored(sessions) == [good.read_text(encoding="utf-8")]


def test_quitting_without_saving_changes_nothing(
    digest: CliRunnerCall, sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    load_sample(sessions)
    editor = Editor(tmp_path / "editor", None)
    result = editing(digest, editor, "--week", "2026-W48")
    assert result.exit_code == 0, result.output
    assert editor.runs == 1
    assert result.stdout == "2026-W48: not changed; the edition file is as it was\n"
    assert stored(sessions) == []


def test_a_bad_save_is_named_by_line_and_the_editor_opens_again_on_it(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    load_sample(sessions)
    bad = "---\nsubject: Fine\norder:\n  - no-such-comparison\n---\n"
    good = "---\nsubject: Fine\norder:\n  - loomwright-agents-vs-parcelbot-orchestrator\n---\n"
    editor = Editor(tmp_path / "editor", bad, good)

    result = editing(digest, editor, "--week", "2026-W48", answers="y\n")

    assert result.exit_code == 0, result.output
    assert "2026-W48.md:4: no-such-comparison is not in week 2026-W48's edition" in result.stderr
    assert editor.runs == 2 and editor.seen(1) == bad  # opened again on what was saved
    assert stored(sessions) == [good]
    assert "2026-W48: no edition built yet; its build will use this file" in result.stdout


def test_giving_up_on_a_bad_save_stores_nothing(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    load_sample(sessions)
    editor = Editor(tmp_path / "editor", "---\n---\n<script>alert(1)</script>\n")
    result = editing(digest, editor, "--week", "2026-W48", answers="n\n")
    assert result.exit_code == 0, result.output
    assert "2026-W48.md:3: intro: HTML is not accepted (<script>alert(1)</script>)" in (
        result.stderr
    )
    assert "not changed" in result.stdout and stored(sessions) == []


def test_a_started_edition_is_refused_before_the_editor_opens(
    digest: CliRunnerCall, sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    build_sample_week(sessions, settings)
    start_edition(sessions, W48, settings)
    editor = Editor(tmp_path / "editor", "---\nsubject: Too late\n---\n")
    result = editing(digest, editor, "--week", "2026-W48")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "error: 2026-W48 is already sending: its edition file can no longer change"
    )
    assert editor.runs == 0 and stored(sessions) == []
    with sessions.begin() as session:
        session.execute(update(Edition).values(status="sent"))
    path = tmp_path / "2026-W48.md"
    path.write_text("---\nsubject: Too late\n---\n", encoding="utf-8")
    imported = digest("edition", "import", str(path))
    assert imported.exit_code == 1
    assert "2026-W48 is already sent: its edition file can no longer change" in imported.stderr
    assert stored(sessions) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("---\norder: [no-such-slug]\n---\n", "2026-W48.md:2: no-such-slug is not in week"),
        (
            "---\nsubject: ok\nsend_at: 2026-13-01 07:30\n---\n",
            "2026-W48.md:3: send_at: '2026-13-01",
        ),
        ("---\nsubject: 'open\n---\n", "2026-W48.md:2: not valid YAML"),
        ("---\n---\nHi\n<script>alert(1)</script>\n", "2026-W48.md:4: intro: HTML is not accepted"),
        (
            "---\n\nsend_at: 2026-11-30 09:00\n---\n",
            "2026-W48.md:3: send_at: 2026-11-30 09:00 is in",
        ),
    ],
)
def test_import_refuses_a_bad_file_with_one_error_naming_its_line(
    digest: CliRunnerCall,
    sessions: sessionmaker[Session],
    settings: Settings,
    tmp_path: Path,
    text: str,
    problem: str,
) -> None:
    build_sample_week(sessions, settings)
    with sessions() as session:
        before = session.scalars(select(EditionSegment.html).order_by(EditionSegment.id)).all()
    path = tmp_path / "2026-W48.md"
    path.write_text(text, encoding="utf-8")
    result = digest("edition", "import", str(path))
    assert result.exit_code == 1
    error, *problems = result.stderr.strip().splitlines()
    assert error == f"error: {path}: 1 problem:"
    assert len(problems) == 1 and problems[0].strip().startswith(f"{tmp_path}/{problem}"), problems
    assert stored(sessions) == []
    with sessions() as session:
        after = session.scalars(select(EditionSegment.html).order_by(EditionSegment.id)).all()
    assert after == before


def test_import_takes_the_week_from_the_option_else_the_files_name(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    load_sample(sessions)
    named = tmp_path / "2026-W48.md"
    named.write_text("---\nsubject: From the name\n---\nHello.\n", encoding="utf-8")
    result = digest("edition", "import", str(named))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2026-W48: edition file saved\n")
    again = digest("edition", "import", str(named))
    assert again.stdout == "2026-W48: not changed; the edition file is as it was\n"
    other = tmp_path / "draft.md"
    other.write_text("---\nsubject: By the option\n---\n", encoding="utf-8")
    result = digest("edition", "import", str(other), "--week", "2026-W47")
    assert result.exit_code == 0, result.output
    with sessions() as session:
        names = dict(session.execute(select(EditorCopy.name, EditorCopy.source)).all())
    assert names == {
        "2026-W48": "---\nsubject: From the name\n---\nHello.\n",
        "2026-W47": "---\nsubject: By the option\n---\n",
    }


def test_show_and_export_give_the_file_or_the_template_to_start_from(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    load_sample(sessions)
    shown = digest("edition", "show", "--week", "2026-W48")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[:2] == [
        "2026-W48: no edition file; the edition is as computed",
        "  subject    Claude Files API vs Claude Haiku Open Weights + 3 more comparisons "
        "(computed)",
    ]
    template = digest("edition", "export", "--week", "2026-W48")
    assert template.exit_code == 0
    assert template.stdout.startswith("---\n# The edition file of 2026-W48.")
    assert template.stderr == "2026-W48: no edition file yet; this is the template to start from\n"

    text = "---\npreheader: Four verdicts\n---\nA [link](https://verdicts.example/m).\n"
    (tmp_path / "2026-W48.md").write_text(text, encoding="utf-8")
    assert digest("edition", "import", str(tmp_path / "2026-W48.md")).exit_code == 0
    exported = digest("edition", "export", "--week", "2026-W48")
    assert (exported.stdout, exported.stderr) == (text, "")
    out = tmp_path / "out" / "copy.md"
    out.parent.mkdir()
    written = digest("edition", "export", "--week", "2026-W48", "-o", str(out))
    assert written.exit_code == 0 and out.read_text(encoding="utf-8") == text
    shown = digest("edition", "show", "--week", "2026-W48")
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("2026-W48: edition file saved 20") and " by " in lines[0]
    assert "  preheader  Four verdicts" in lines and "  intro      37 characters" in lines
    assert shown.stdout.endswith("\n" + text + "\n")
