"""`digest content list, hide, unhide, remove` through the command, on both
stores: what an editor reads and types."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.cli import CliRunnerCall
from tests.support.content import add_launch, row_counts, shown, tool_id
from tests.support.editions import start_week
from tests.support.sample import W48, build_sample_week, load_content
from worker.config import PROJECT_ROOT, Settings
from worker.store.models import Tool

HIDDEN = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
INKWELL = "inkwell-notes-ai-vs-margin-copilot-vs-tallyhand"
LOOMWRIGHT = "loomwright-agents-vs-parcelbot-orchestrator"


@pytest.fixture
def digest(digest: CliRunnerCall) -> CliRunnerCall:
    """The command, in the time zone of the ``settings`` the tests build with."""
    digest.env["DIGEST_TIMEZONE"] = "Europe/Berlin"
    return digest


def test_list_prints_the_weeks_comparisons_and_launches_with_their_references(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    load_content(sessions)
    junk = add_launch(sessions, "junk-launch", "Junk [b]Launch[/b]")
    with sessions.begin() as session:
        session.execute(update(Tool).where(Tool.id == junk).values(hidden_at=HIDDEN))
    vellum, queryfox = tool_id(sessions, "vellum-voice"), tool_id(sessions, "queryfox")
    done = digest("content", "list", "--week", "2026-W48")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[0] == "Comparisons published in 2026-W48"
    assert lines[1].startswith(
        "  comparison:claude-files-api-vs-claude-haiku-open-weights: id 1; "
        "title Claude Files API vs Claude Haiku Open Weights; category Developer Tools; "
        "published 2026-11-24 10:00 CET; tools claude-files-api, claude-haiku-open-weights"
    )
    assert len(lines) == 1 + 4 + 1 + 3
    assert lines[5:] == [
        "Launches of 2026-W48",
        f"  launch:{vellum}: slug vellum-voice; name Vellum Voice; category Audio & Voice; "
        "launched 2026-11-27; feed import",
        f"  launch:{junk}: slug junk-launch; name Junk [b]Launch[/b]; category Data & Analytics; "
        "launched 2026-11-26; feed Junk Feed; hidden 2026-11-30 10:00 CET",
        f"  launch:{queryfox}: slug queryfox; name Queryfox; category Data & Analytics; "
        "launched 2026-11-26; feed import",
    ]
    hidden = digest("content", "list", "--week", "2026-W48", "--hidden", "--kind", "comparisons")
    assert hidden.stdout == "no hidden comparisons of 2026-W48\n"


def test_list_as_json_and_of_every_week(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    load_content(sessions)
    add_launch(sessions, "next-week", "Next Week", dt.date(2026, 12, 1))
    done = digest("content", "list", "--week", "2026-W48", "--kind", "launches", "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert list(document) == ["week", "launches"]
    assert [x["ref"] for x in document["launches"]] == [
        f"launch:{tool_id(sessions, 'vellum-voice')}",
        f"launch:{tool_id(sessions, 'queryfox')}",
    ]
    every = json.loads(digest("content", "list", "--all", "--json").stdout)
    assert every["week"] is None and list(every) == ["week", "comparisons", "tools"]
    assert len(every["tools"]) == 12 and len(every["comparisons"]) == 4
    assert "tool:next-week" in {t["ref"] for t in every["tools"]}


def test_list_refuses_what_has_no_meaning(digest: CliRunnerCall) -> None:
    both = digest("content", "list", "--all", "--week", "2026-W48")
    assert both.exit_code == 2 and "--all lists every week: leave out --week" in both.stderr
    launches = digest("content", "list", "--all", "--kind", "launches")
    assert launches.exit_code == 2
    assert "launches belong to a week: --all --kind tools lists every tool" in launches.stderr


def test_hide_and_unhide_say_what_became_of_the_edition(
    digest: CliRunnerCall, sessions: sessionmaker[Session], settings: Settings
) -> None:
    build_sample_week(sessions, settings)
    hidden = digest("content", "hide", "queryfox")
    assert hidden.exit_code == 0, hidden.output
    assert hidden.stdout == "tool:queryfox (Queryfox): hidden\n2026-W48: edition rebuilt\n"
    assert "Queryfox" not in shown(sessions, W48)
    again = digest("content", "hide", f"launch:{tool_id(sessions, 'queryfox')}")
    assert again.exit_code == 0
    assert re.fullmatch(
        r"tool:queryfox \(Queryfox\): already hidden \(since \d{4}-\d\d-\d\d \d\d:\d\d CES?T\)\n",
        again.stdout,
    )
    compared = digest("content", "hide", "tool:claude-files-api")
    assert compared.stdout == (
        "tool:claude-files-api (Claude Files API): hidden as a launch; "
        "comparison:claude-files-api-vs-claude-haiku-open-weights still shows it "
        "(hide the comparison to leave it out)\n"
    )
    back = digest("content", "unhide", "queryfox", "tool:claude-files-api", "vellum-voice")
    assert back.stdout == (
        "tool:queryfox (Queryfox): shown again\n"
        "tool:claude-files-api (Claude Files API): shown again\n"
        "tool:vellum-voice (Vellum Voice): was not hidden\n"
        "2026-W48: edition rebuilt\n"
    )
    assert "Queryfox" in shown(sessions, W48)


def test_a_sending_edition_keeps_its_copy_and_says_so(
    digest: CliRunnerCall, sessions: sessionmaker[Session], settings: Settings
) -> None:
    build_sample_week(sessions, settings)
    start_week(sessions, settings)
    done = digest("content", "hide", "comparison:prismatic-canvas-vs-sketchloom")
    assert done.exit_code == 0, done.output
    assert done.stdout == (
        "comparison:prismatic-canvas-vs-sketchloom (Prismatic Canvas vs Sketchloom): hidden\n"
        "2026-W48 is already sending: its copy is unchanged\n"
    )
    assert "Prismatic Canvas vs Sketchloom" in shown(sessions, W48)


def test_an_unknown_reference_is_an_error_naming_it(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    load_content(sessions)
    before = row_counts(sessions)
    for command in ("hide", "unhide", "remove"):
        done = digest("content", command, "queryfox", "queryfx")
        assert done.exit_code == 1 and done.stdout == ""
        assert done.stderr.splitlines() == [
            "error: no tool or comparison has the slug 'queryfx' (did you mean tool:queryfox?)",
            "hint: digest content list shows the week's ids and slugs "
            "(--all: every tool and comparison)",
        ]
    assert row_counts(sessions) == before
    assert digest("content", "hide").exit_code == 2  # no REF at all


def test_remove_says_what_it_takes_and_asks(
    digest: CliRunnerCall, sessions: sessionmaker[Session], settings: Settings
) -> None:
    build_sample_week(sessions, settings)
    before = row_counts(sessions)
    said = (
        f"tool:tallyhand (Tallyhand) takes with it 4 reviews, 0 votes and its column in "
        f"comparison:{INKWELL}\n"
        f"comparison:{INKWELL} stays, with 2 tools\n"
        "editions that show it: 2026-W48 (rebuilt if unsent; a sent edition keeps its copy)\n"
        "Remove it for good? [y/N]: "
    )
    declined = digest("content", "remove", "tool:tallyhand", input="n\n")
    assert declined.exit_code == 0
    assert declined.stdout == said + "n\nnothing removed\n"  # the runner echoes the answer
    unanswered = digest("content", "remove", "tool:tallyhand")  # no terminal, no --yes
    assert unanswered.exit_code == 1
    assert row_counts(sessions) == before
    done = digest("content", "remove", "tool:tallyhand", input="y\n")
    assert done.exit_code == 0, done.output
    assert done.stdout == said + "y\nremoved tool:tallyhand\n2026-W48: edition rebuilt\n"
    assert "/tallyhand/ship" not in shown(sessions, W48)
    assert before["tool"] - row_counts(sessions)["tool"] == 1


def test_remove_refuses_to_leave_a_comparison_with_one_tool(
    digest: CliRunnerCall, sessions: sessionmaker[Session], settings: Settings
) -> None:
    build_sample_week(sessions, settings)
    before = row_counts(sessions)
    refused = digest("content", "remove", "--yes", "loomwright-agents")
    assert refused.exit_code == 1 and refused.stdout == ""
    assert refused.stderr.splitlines() == [
        f"error: removing tool:loomwright-agents would leave comparison:{LOOMWRIGHT} with 1 tool",
        "hint: name the comparison too, to remove it with them: digest content remove "
        f"loomwright-agents comparison:{LOOMWRIGHT}; or hide the tool instead: "
        "digest content hide tool:loomwright-agents",
    ]
    assert row_counts(sessions) == before
    done = digest("content", "remove", "--yes", "loomwright-agents", f"comparison:{LOOMWRIGHT}")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[-2:] == [
        f"removed tool:loomwright-agents, comparison:{LOOMWRIGHT}",
        "2026-W48: edition rebuilt",
    ]


def test_a_failed_rebuild_is_said_and_exits_1(
    digest: CliRunnerCall, sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    build_sample_week(sessions, settings)
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    (templates / "email" / "digest.txt.j2").write_text("{% if %}\n")
    digest.env["TEMPLATES_DIR"] = str(templates)
    done = digest("content", "hide", "queryfox")
    assert done.exit_code == 1
    assert done.stdout == "tool:queryfox (Queryfox): hidden\n"
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("2026-W48")]
    assert line.startswith("2026-W48: not rebuilt, so it still shows what it showed: ")
    assert line.endswith("; fix that, then run digest build --week 2026-W48")
    assert "Queryfox" in shown(sessions, W48)
