"""`digest subscribers export`: every subscriber, whole and defused, to a
file only its owner reads or to standard output, on both stores."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from tests.support.cli import CliRunnerCall, one_error_line, people, suppressions
from worker.store.models import Subscriber, Suppression

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


HYPERLINK = '=HYPERLINK("https://evil.example","x")'


# Subscribers in every state, with hostile and awkward values: email, name,
# status, categories, then created, confirmed, unsubscribed and paused until,
# in days from NOW, and the reader's time zone.
A_LIST = [
    ("ada@example.com", "Ada Lovelace", "confirmed", "Data & Analytics|Design",
        -30, -29, None, None, "Asia/Singapore"),
    ("=1+2@example.com", HYPERLINK, "confirmed", "", -20, -20, None, None, None),
    ("-minus@example.com", "'quoted, with a comma'", "pending", "", -10, None, None, None,
        "America/Los_Angeles"),
    ("left@example.com", '+Plus "Q"', "unsubscribed", "Design", -9, -8, -2, None, None),
    ("bounced@example.com", "@mention", "bounced", "", -5, -5, None, None, None),
    ("paused@example.com", None, "confirmed", "Design", -1, -1, None, 14, "US/Pacific"),
]  # fmt: skip


# Suppressed addresses: email, reason, suppressed since (days from NOW). The
# last has no subscriber (a stranger's bounce, or an erased subscriber).
A_LIST_SUPPRESSED = [
    ("left@example.com", "complaint", -2),
    ("bounced@example.com", "hard_bounce", -5),
    ("erased@example.com", "manual", -3),
]


def a_list(sessions: sessionmaker[Session]) -> None:
    """Store :data:`A_LIST` and :data:`A_LIST_SUPPRESSED`."""

    def day(offset: int | None) -> dt.datetime | None:
        return None if offset is None else NOW + dt.timedelta(days=offset)

    with sessions.begin() as session:
        for email_, name, status, categories, created, confirmed, left, paused, zone in A_LIST:
            session.add(
                Subscriber(
                    email=email_,
                    name=name,
                    status=status,
                    categories=categories,
                    created_at=day(created),
                    confirmed_at=day(confirmed),
                    unsubscribed_at=day(left),
                    paused_until=day(paused),
                    timezone=zone,
                )
            )
        for email_, reason, since in A_LIST_SUPPRESSED:
            session.add(Suppression(email=email_, reason=reason, created_at=day(since)))


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty directory to export to: the test sees all that lands in it."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def test_export_writes_every_subscriber_with_formulas_defused(
    digest: CliRunnerCall, sessions: sessionmaker[Session], out: Path
) -> None:
    a_list(sessions)
    path = out / "list.csv"
    done = digest("subscribers", "export", str(path))
    assert (done.exit_code, done.stdout) == (
        0,
        f"{path}: 6 subscribers and 1 other suppressed address exported\n",
    )
    assert path.stat().st_mode & 0o777 == 0o600
    assert list(out.iterdir()) == [path]
    rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    assert [r["email"] for r in rows] == [
        "ada@example.com",
        "'=1+2@example.com",
        "'-minus@example.com",
        "left@example.com",
        "bounced@example.com",
        "paused@example.com",
        "erased@example.com",
    ]
    ada, formula, minus, left, bounced, paused, erased = rows
    assert ada == {
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "status": "confirmed",
        "categories": "Data & Analytics;Design",
        "created_at": "2026-10-25T09:00:00+00:00",
        "confirmed_at": "2026-10-26T09:00:00+00:00",
        "unsubscribed_at": "",
        "suppressed": "",
        "paused_until": "",
        "timezone": "Asia/Singapore",
    }
    assert paused["paused_until"] == "2026-12-08T09:00:00+00:00"
    # A zone the IANA database keeps as an old name is exported as stored.
    assert (minus["timezone"], paused["timezone"]) == ("America/Los_Angeles", "US/Pacific")
    assert formula["name"] == f"'{HYPERLINK}"
    assert minus["name"] == "''quoted, with a comma'"
    assert left["name"] == '\'+Plus "Q"'
    assert (left["unsubscribed_at"], left["suppressed"]) == (
        "2026-11-22T09:00:00+00:00",
        "complaint",
    )
    assert (bounced["name"], bounced["suppressed"]) == ("'@mention", "hard_bounce")
    # A suppression without a subscriber: unsubscribed since it was suppressed.
    assert erased == {
        "email": "erased@example.com",
        "name": "",
        "status": "unsubscribed",
        "categories": "",
        "created_at": "2026-11-21T09:00:00+00:00",
        "confirmed_at": "",
        "unsubscribed_at": "2026-11-21T09:00:00+00:00",
        "suppressed": "manual",
        "paused_until": "",
        "timezone": "",
    }
    # Nothing in the file starts a formula.
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_export_round_trips_through_import(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    a_list(sessions)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    assert digest("subscribers", "export", str(first)).exit_code == 0
    with sessions.begin() as session:
        session.execute(delete(Subscriber))
        session.execute(delete(Suppression))

    done = digest("subscribers", "import", str(first))
    assert done.exit_code == 0, done.output
    assert done.stdout == (  # a store without tools: their categories are kept, and noted
        f"{first}: 7 rows imported (7 added, 0 merged, 3 suppressed)\n"
        "note: no tool has the categories Data & Analytics, Design yet: "
        "nothing of them is sent until one does\n"
    )
    assert digest("subscribers", "export", str(second)).exit_code == 0
    assert second.read_bytes() == first.read_bytes()

    stored = people(sessions)
    assert stored["=1+2@example.com"].name == HYPERLINK
    assert stored["-minus@example.com"].name == "'quoted, with a comma'"
    assert {e: s.timezone for e, s in stored.items() if s.timezone} == {
        e: zone for e, *_, zone in A_LIST if zone
    }
    paused_until = stored["paused@example.com"].paused_until
    assert paused_until is not None
    assert paused_until.replace(tzinfo=dt.UTC) == NOW + dt.timedelta(days=14)
    assert {e: s.status for e, s in stored.items()} == {
        "ada@example.com": "confirmed",
        "=1+2@example.com": "confirmed",
        "-minus@example.com": "pending",
        "left@example.com": "unsubscribed",
        "bounced@example.com": "bounced",
        "paused@example.com": "confirmed",
        "erased@example.com": "unsubscribed",  # a row now, receiving nothing
    }
    assert {e: s.reason for e, s in suppressions(sessions).items()} == {
        email_: reason for email_, reason, _ in A_LIST_SUPPRESSED
    }


def test_export_to_standard_output_and_by_status(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    a_list(sessions)
    done = digest("subscribers", "export")
    assert done.exit_code == 0
    assert done.stderr == "6 subscribers and 1 other suppressed address exported\n"
    assert len(list(csv.DictReader(io.StringIO(done.stdout)))) == 7
    confirmed = digest("subscribers", "export", "-", "--status", "confirmed")
    emails = [r["email"] for r in csv.DictReader(io.StringIO(confirmed.stdout))]
    assert emails == ["ada@example.com", "'=1+2@example.com", "paused@example.com"]
    assert confirmed.stderr == "3 subscribers exported\n"
    left = digest("subscribers", "export", "-", "--status", "unsubscribed")
    emails = [r["email"] for r in csv.DictReader(io.StringIO(left.stdout))]
    assert emails == ["left@example.com", "erased@example.com"]
    assert digest("subscribers", "export", "--status", "gone").exit_code == 2


def test_export_to_a_place_that_cannot_be_written_is_one_error(
    digest: CliRunnerCall, sessions: sessionmaker[Session], out: Path
) -> None:
    a_list(sessions)
    missing = out / "no-such-dir" / "list.csv"
    line = one_error_line(digest("subscribers", "export", str(missing)))
    assert line == f"error: {missing}: cannot write: No such file or directory"
    directory = out / "a-directory"
    directory.mkdir()
    line = one_error_line(digest("subscribers", "export", str(directory)))
    assert line.startswith(f"error: {directory}: cannot write:")
    assert list(out.iterdir()) == [directory] and list(directory.iterdir()) == []
