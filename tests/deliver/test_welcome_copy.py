"""The welcome copy in use (worker/deliver/welcome_copy.py), on both
stores: the stored one, else the default that ships."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from worker.config import PROJECT_ROOT, Settings
from worker.deliver.welcome_copy import STORED_SOURCE, current_welcome, default_path
from worker.domain.editorial import EditorialFileError
from worker.editor.welcome import store_welcome
from worker.errors import ConfigError


def test_without_a_stored_copy_the_default_is_in_use(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        current = current_welcome(session, settings)
    assert not current.stored and current.updated_by is None
    assert current.source == str(PROJECT_ROOT / "templates" / "email" / "welcome.md")
    assert current.copy.source == default_path(settings).read_text(encoding="utf-8")
    assert current.copy.subject is None  # "Welcome to <LIST_NAME>"
    assert current.copy.preheader and "Thanks for confirming" in current.copy.body


def test_a_stored_copy_replaces_the_default_and_the_one_before(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    for by, text in (("ada", "---\nsubject: First\n---\nHello."), ("grace", "Hi again.\n")):
        with sessions.begin() as session:
            store_welcome(session, settings, text, by)
    with sessions() as session:
        current = current_welcome(session, settings)
        other_list = current_welcome(session, dataclasses.replace(settings, list_id="other"))
    assert current.stored and current.source == STORED_SOURCE
    assert (current.updated_by, current.copy.source, current.copy.body) == (
        "grace",
        "Hi again.\n",
        "Hi again.",
    )
    assert current.copy.subject is None
    assert not other_list.stored  # one welcome copy per list


def test_a_broken_default_is_named_by_its_file_and_line(
    settings: Settings, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    broken = dataclasses.replace(settings, templates_dir=templates)
    path = default_path(broken)
    path.write_text("---\nsubject: [not, text]\n---\nHi <script>x</script>\n", encoding="utf-8")
    with sessions() as session, pytest.raises(EditorialFileError) as refused:
        current_welcome(session, broken)
    assert refused.value.problems == [
        f"{path}:2: subject: must be text (put it in quotes)",
        f"{path}:4: body: HTML is not accepted (Hi <script>x</script>): write Markdown",
    ]
    path.unlink()
    with sessions() as session, pytest.raises(ConfigError, match=r"welcome\.md: the default"):
        current_welcome(session, broken)
