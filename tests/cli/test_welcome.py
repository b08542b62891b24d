"""``digest welcome``: edit (with EDITOR a script), show, import and
export the welcome copy, on both stores."""

from __future__ import annotations

import stat
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.cli import CliRunnerCall
from worker.cli import main
from worker.config import PROJECT_ROOT
from worker.store.models import EditorCopy

DEFAULT = PROJECT_ROOT / "templates" / "email" / "welcome.md"
COPY = '---\nsubject: "Hello from the panel"\n---\n**Glad you are here.**\n'
BAD = "---\nsubject: [1, 2]\n---\nHi.\n\n<script>alert(1)</script>\n"


def editor(tmp_path: Path, *saves: str) -> dict[str, str]:
    """An EDITOR that keeps each text it is opened on (opened-1.md, …)
    and saves ``saves`` in turn: the environment that runs it."""
    for n, text in enumerate(saves, 1):
        (tmp_path / f"save-{n}.md").write_text(text, encoding="utf-8")
    script = tmp_path / "editor.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'cd "{tmp_path}"\n'
        "n=$(( $(cat count 2>/dev/null || echo 0) + 1 )); echo $n > count\n"
        'cp "$1" "opened-$n.md"\n'
        'cp "save-$n.md" "$1"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"EDITOR": str(script), "VISUAL": ""}


def run(digest: CliRunnerCall, env: dict[str, str], *args: str, input: str = "") -> Result:
    return CliRunner().invoke(
        main, list(args), env={**digest.env, **env}, input=input, catch_exceptions=False
    )


def stored(sessions: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with sessions() as session:
        rows = session.execute(select(EditorCopy.source, EditorCopy.updated_by)).all()
    return [(source, by) for source, by in rows]


def test_edit_opens_the_default_and_stores_what_is_saved(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    done = run(digest, editor(tmp_path, COPY), "welcome", "edit", "--by", "ada")
    assert done.exit_code == 0, done.output
    assert (tmp_path / "opened-1.md").read_text() == DEFAULT.read_text()
    assert 'welcome copy stored: subject "Hello from the panel"' in done.stdout
    assert stored(sessions) == [(COPY, "ada")]

    shown = digest("welcome", "show")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("welcome copy: stored by ada at ")
    assert lines[1:3] == [
        "subject:   Hello from the panel",
        "preheader: What every edition brings, and how to vote Ship or Skip. (the default)",
    ]
    assert shown.stdout.endswith(COPY)

    # The next edit opens the stored copy.
    again = tmp_path / "again"
    again.mkdir()
    done = run(digest, editor(again, COPY.replace("Glad", "So glad")), "welcome", "edit")
    assert done.exit_code == 0, done.output
    assert (again / "opened-1.md").read_text() == COPY
    assert [source for source, _ in stored(sessions)] == [COPY.replace("Glad", "So glad")]


def test_a_bad_save_is_named_by_line_and_opened_again_until_it_is_right(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    done = run(digest, editor(tmp_path, BAD, COPY), "welcome", "edit", input="y\n")
    assert done.exit_code == 0, done.output
    assert "welcome copy:2: subject: must be text (put it in quotes)" in done.stderr
    assert "welcome copy:6: body: HTML is not accepted" in done.stderr
    assert (tmp_path / "opened-2.md").read_text() == BAD  # the saved text, to fix
    assert [source for source, _ in stored(sessions)] == [COPY]


def test_giving_up_on_a_bad_save_stores_nothing(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    done = run(digest, editor(tmp_path, BAD), "welcome", "edit", input="n\n")
    assert done.exit_code == 0, done.output
    assert "welcome copy:2: subject" in done.stderr
    assert "nothing stored" in done.stdout
    assert stored(sessions) == []


def test_saving_the_default_unchanged_stores_nothing(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    done = run(digest, editor(tmp_path, DEFAULT.read_text()), "welcome", "edit")
    assert done.exit_code == 0, done.output
    assert "nothing stored: unchanged (the default" in done.stdout
    assert stored(sessions) == []


def test_import_checks_and_stores_and_export_gives_it_back(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    shown = digest("welcome", "show")
    assert shown.stdout.startswith(f"welcome copy: the default, {DEFAULT} (none stored)\n")
    assert "subject:   Welcome to Weekly AI Tool Verdicts (the default)" in shown.stdout
    assert digest("welcome", "export").stdout == DEFAULT.read_text()

    bad = tmp_path / "bad.md"
    bad.write_text(BAD, encoding="utf-8")
    refused = digest("welcome", "import", str(bad))
    assert refused.exit_code == 1
    assert refused.stderr.splitlines()[:3] == [
        f"error: {bad}: 2 problems:",
        f"  {bad}:2: subject: must be text (put it in quotes)",
        f"  {bad}:6: body: HTML is not accepted (<script>alert(1)</script>): write Markdown",
    ]
    assert stored(sessions) == []

    good = tmp_path / "good.md"
    good.write_text(COPY, encoding="utf-8")
    done = digest("welcome", "import", str(good), "--by", "grace")
    assert done.exit_code == 0, done.output
    assert f'welcome copy stored from {good}: subject "Hello from the panel"' in done.stdout
    assert stored(sessions) == [(COPY, "grace")]

    assert digest("welcome", "export").stdout == COPY
    out = tmp_path / "out.md"
    done = digest("welcome", "export", "-o", str(out))
    assert done.exit_code == 0, done.output
    assert out.read_text() == COPY
    assert "written to" in done.stdout


def test_import_refuses_a_file_that_is_not_utf8(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    latin = tmp_path / "latin.md"
    latin.write_bytes("Hello.\n\nGrüße".encode("latin-1"))
    refused = digest("welcome", "import", str(latin))
    assert refused.exit_code == 1
    assert f"{latin}:3: not UTF-8 text (byte 11 of the file)" in refused.stderr
    assert stored(sessions) == []
