"""Subscriber CSV export: the rows, their counts in words, and the file
written whole, for its owner alone, or not at all."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from subscribers.csvexport import Exported, export_csv, export_file
from worker.domain.states import SubscriberStatus
from worker.errors import DigestError
from worker.store import make_engine, session_factory
from worker.store.models import Subscriber, Suppression

HEADER = (
    "email,name,status,categories,created_at,confirmed_at,unsubscribed_at,suppressed,"
    "paused_until,timezone\r\n"
)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty directory to export to: the test sees all that lands in it."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def a_few(sessions: sessionmaker[Session]) -> None:
    """Two subscribers (one with a formula for a name) and a suppressed
    address without a subscriber."""
    with sessions.begin() as session:
        session.add_all(
            [
                Subscriber(email="ada@example.com", name="=1+2", status="confirmed"),
                Subscriber(email="left@example.com", status="unsubscribed"),
                Suppression(email="gone@example.com", reason="hard_bounce"),
            ]
        )


def test_export_of_an_empty_list_is_a_header(sessions: sessionmaker[Session]) -> None:
    out = io.StringIO(newline="")
    with sessions() as session:
        assert export_csv(session, out) == (0, 0)
    assert out.getvalue() == HEADER


def test_export_counts_each_kind_of_row(sessions: sessionmaker[Session]) -> None:
    a_few(sessions)
    out = io.StringIO(newline="")
    with sessions() as session:
        assert export_csv(session, out) == Exported(subscribers=2, suppressed=1)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["email"], r["name"], r["status"]) for r in rows] == [
        ("ada@example.com", "'=1+2", "confirmed"),
        ("left@example.com", "", "unsubscribed"),
        ("gone@example.com", "", "unsubscribed"),
    ]


def test_the_counts_in_words() -> None:
    assert Exported(3, 0).described() == "3 subscribers"
    assert Exported(6, 1).described() == "6 subscribers and 1 other suppressed address"
    assert Exported(0, 2).described() == "0 subscribers and 2 other suppressed addresses"
    assert Exported(1, 0).described() == "1 subscriber"


def test_a_file_export_replaces_the_file_readable_by_its_owner_alone(
    sessions: sessionmaker[Session], out: Path
) -> None:
    a_few(sessions)
    path = out / "list.csv"
    path.write_text("an older export\n")
    path.chmod(0o644)
    with sessions() as session:
        assert export_file(session, path) == (2, 1)
    assert path.stat().st_mode & 0o777 == 0o600
    assert list(out.iterdir()) == [path]  # no partial file left beside it
    with sessions() as session:
        assert export_file(session, path, status=SubscriberStatus.CONFIRMED) == (1, 0)
    assert path.read_bytes().decode("utf-8").splitlines()[1].startswith("ada@example.com,")


def test_a_file_export_that_fails_part_way_leaves_the_older_file_as_it_was(
    tmp_path: Path, out: Path
) -> None:
    path = out / "list.csv"
    path.write_text("an older export\n")
    # A store without the schema: the header is written, then the query fails.
    unmigrated = make_engine(f"sqlite:///{tmp_path / 'unmigrated.sqlite3'}")
    try:
        with session_factory(unmigrated)() as session, pytest.raises(OperationalError):
            export_file(session, path)
    finally:
        unmigrated.dispose()
    assert path.read_text() == "an older export\n"
    assert list(out.iterdir()) == [path]


def test_a_file_that_cannot_be_written_is_one_error_naming_it(
    sessions: sessionmaker[Session], out: Path
) -> None:
    missing = out / "no-such-dir" / "list.csv"
    with sessions() as session, pytest.raises(DigestError) as raised:
        export_file(session, missing)
    assert str(raised.value) == f"{missing}: cannot write: No such file or directory"
    directory = out / "a-directory"
    directory.mkdir()
    with (
        sessions() as session,
        pytest.raises(DigestError, match=f"^{re.escape(str(directory))}: cannot write:"),
    ):
        export_file(session, directory)
    assert list(out.iterdir()) == [directory] and list(directory.iterdir()) == []
