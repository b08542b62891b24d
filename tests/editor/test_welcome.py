"""Storing the welcome copy (worker/editor/welcome.py), on both stores: a
copy with any problem is refused line by line and stores nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.domain.editorial import EditorialFileError
from worker.editor.welcome import store_welcome
from worker.store.models import EditorCopy

GOOD = "---\nsubject: Hello\n---\nWelcome.\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '---\nsubject: "Hi\n---\nx',
            "welcome.md:2: not valid YAML: found unexpected end of stream",
        ),
        ("---\nsubjct: Hi\n---\nx", "welcome.md:2: subjct: not a field of this file (did you mean"),
        ("---\norder: [a]\n---\nx", "welcome.md:2: order: not a field of this file; known: sub"),
        ("---\nsubject: Hi\nx\n", "welcome.md:1: the front matter opened here is never closed"),
        ("---\npreheader: 12\n---\nx", "welcome.md:2: preheader: must be text (put it in quotes)"),
        (f"---\nsubject: {'a' * 151}\n---\nx", "welcome.md:2: subject: is 151 characters; at most"),
        ("Hi.\n\n<script>alert(1)</script>", "welcome.md:3: body: HTML is not accepted (<script>"),
        ("---\n---\nHi.\n\n[x](http://x.example)", "welcome.md:5: body: a link must be https: 'h"),
        (
            "---\n---\n\n" + "Word " * 1_200,
            "welcome.md:4: body: renders to 6,006 bytes of HTML; at",
        ),
    ],
)
def test_a_bad_copy_is_refused_by_its_line_and_stores_nothing(
    settings: Settings, sessions: sessionmaker[Session], text: str, problem: str
) -> None:
    with sessions.begin() as session:
        store_welcome(session, settings, GOOD, "ada")
    with sessions.begin() as session, pytest.raises(EditorialFileError) as refused:
        store_welcome(session, settings, text, "mallory", "welcome.md")
    assert len(refused.value.problems) == 1
    assert refused.value.problems[0].startswith(problem)
    with sessions() as session:
        rows = session.execute(select(EditorCopy.source, EditorCopy.updated_by)).all()
    assert [tuple(row) for row in rows] == [(GOOD, "ada")]


def test_every_problem_of_a_copy_is_named_at_once(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    text = "---\nsubject: 7\npreheader: ''\n---\nHi <b>there</b>.\n"
    with sessions.begin() as session, pytest.raises(EditorialFileError) as refused:
        store_welcome(session, settings, text, "ada")
    assert [p.split(": ")[0:2] for p in refused.value.problems] == [
        ["welcome copy:2", "subject"],
        ["welcome copy:3", "preheader"],
        ["welcome copy:5", "body"],
    ]
    assert str(refused.value).startswith("welcome copy: 3 problems:\n  welcome copy:2: subject")
    with sessions() as session:
        assert session.scalars(select(EditorCopy)).all() == []
