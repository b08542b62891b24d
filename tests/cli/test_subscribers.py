"""List management from the command line: `digest subscribers add, remove,
suppress, unsuppress, export, stats`, on both stores."""

from __future__ import annotations

import csv
import datetime as dt
import email
import email.policy
import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.admin import Segment, list_stats
from subscribers.ratelimit import address_key
from worker.cli import main
from worker.config import load_settings
from worker.domain.states import SubscriberStatus
from worker.domain.tokens import CONFIRM_WINDOW, Purpose, read_token
from worker.mail.memory import MemoryBackend
from worker.store.models import IntakeEvent, RateHit, Subscriber, Suppression, Tool, Vote

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def digest(database_url: str) -> CliRunnerCall:
    return CliRunnerCall(database_url)


class CliRunnerCall:
    """`digest …` in process, on the test's store."""

    def __init__(self, database_url: str) -> None:
        self.env = {
            "DATABASE_URL": database_url,
            "MAIL_URL": "memory://",
            "SITE_URL": "https://verdicts.example",
            "SECRET_KEY": "cli-test-secret",
        }

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=self.env, catch_exceptions=False)


def people(sessions: sessionmaker[Session]) -> dict[str, Subscriber]:
    with sessions() as session:
        return {s.email: s for s in session.scalars(select(Subscriber))}


def suppressions(sessions: sessionmaker[Session]) -> dict[str, Suppression]:
    with sessions() as session:
        return {s.email: s for s in session.scalars(select(Suppression))}


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_add_stores_a_confirmed_or_pending_subscriber(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    done = digest(
        "subscribers", "add", " Ada@Example.COM ", "--name", "Ada Lovelace",
        "--category", "Design", "--category", "Developer Tools",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.stdout == "ada@example.com: added, confirmed, Design, Developer Tools\n"
    pending = digest("subscribers", "add", "pat@example.com", "--pending", "--name", "Pat")
    assert pending.exit_code == 0, pending.output
    assert pending.stdout == (
        "pat@example.com: added, pending, every category\n"
        "pat@example.com: confirmation email sent\n"
    )
    stored = people(sessions)
    ada, pat = stored["ada@example.com"], stored["pat@example.com"]
    assert (ada.name, ada.status, ada.categories) == (
        "Ada Lovelace",
        "confirmed",
        "Design|Developer Tools",
    )
    assert ada.confirmed_at is not None and ada.source == "cli"
    assert (pat.status, pat.categories, pat.confirmed_at) == ("pending", "", None)
    (message,) = MemoryBackend.outbox  # the confirmation; none for Ada
    assert message.recipient == "pat@example.com"
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    assert parsed["To"] == "Pat <pat@example.com>"
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    token = re.search(r"https://verdicts\.example/confirm/([\w.-]+)", text)
    assert token is not None
    settings = load_settings({}, secret_key="cli-test-secret")
    assert read_token(settings, Purpose.CONFIRM, token[1]) == [pat.id, "pat@example.com"]


def test_add_pending_says_when_the_confirmation_is_refused(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    from support.smtpserver import Handler, smtp_server

    handler = Handler(replies={"pat@example.com": "550 5.1.1 no such user"})
    with smtp_server(handler) as controller:
        digest.env["MAIL_URL"] = f"smtp://127.0.0.1:{controller.port}?starttls=off"
        refused = digest("subscribers", "add", "pat@example.com", "--pending")
    line = one_error_line(refused)
    assert line.startswith(
        "error: pat@example.com: added as pending, but the confirmation email was not sent "
        "(permanent 550 5.1.1 no such user, message <"
    )
    assert line.endswith(">); they can subscribe on the site to get another")
    assert handler.envelopes == []
    assert people(sessions)["pat@example.com"].status == "pending"


def test_add_leaves_someone_on_the_list_as_they_are(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        session.add(Subscriber(email="gone@example.com", status=SubscriberStatus.UNSUBSCRIBED))
    done = digest("subscribers", "add", "gone@example.com", "--category", "Design")
    assert done.exit_code == 0
    assert "already on the list (unsubscribed); left as it is" in done.stdout
    gone = people(sessions)["gone@example.com"]
    assert (gone.status, gone.categories) == ("unsubscribed", "")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("not-an-address",), "error: email: 'not-an-address' is not a valid address"),
        (("josé@example.com",), "error: email: 'josé@example.com' is not a valid address"),
        (("[/x]@example.com",), "error: email: '[/x]@example.com' is not a valid address"),
        (("a@example.com", "--name", "Eve\r\nBcc: x@example.com"), "error: name: must be one line"),
        (("a@example.com", "--name", "x" * 10_000), "error: name: is 10000 characters long"),
        (("a@example.com", "--category", "<script>"), "error: categories: '<script>'"),
        (("held@example.com",), "error: email: held@example.com is suppressed (complaint)"),
    ],
)
def test_add_refuses_bad_input_naming_the_field(
    digest: CliRunnerCall, sessions: sessionmaker[Session], args: tuple[str, ...], says: str
) -> None:
    with sessions.begin() as session:
        session.add(Suppression(email="held@example.com", reason="complaint"))
    line = one_error_line(digest("subscribers", "add", *args))
    assert line.startswith(says)
    assert people(sessions) == {}


def test_remove_unsubscribes_and_delete_erases(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        tool = Tool(slug="tool", name="Tool")
        ada = Subscriber(email="ada@example.com", status=SubscriberStatus.CONFIRMED)
        session.add_all([tool, ada, Subscriber(email="bo@example.com", status="confirmed")])
        session.flush()
        session.add(Vote(tool_id=tool.id, subscriber_id=ada.id, verdict="ship"))
        session.add(Suppression(email="ada@example.com", reason="complaint", detail="FBL"))

    done = digest("subscribers", "remove", "BO@example.com")
    assert (done.exit_code, done.stdout) == (0, "BO@example.com: unsubscribed\n")
    bo = people(sessions)["bo@example.com"]
    assert bo.status == "unsubscribed" and bo.unsubscribed_at is not None
    again = digest("subscribers", "remove", "bo@example.com")
    assert again.exit_code == 0 and "already unsubscribed or bounced" in again.stdout

    erased = digest("subscribers", "remove", "ada@example.com", "--delete")
    assert (erased.exit_code, erased.stdout) == (
        0,
        "ada@example.com: deleted; the address stays on the suppression list\n",
    )
    assert set(people(sessions)) == {"bo@example.com"}
    with sessions() as session:
        assert session.scalars(select(Vote)).all() == []
    held = suppressions(sessions)  # the suppression stays as it was
    assert set(held) == {"ada@example.com"}
    assert (held["ada@example.com"].reason, held["ada@example.com"].detail) == ("complaint", "FBL")

    line = one_error_line(digest("subscribers", "remove", "nobody@example.com"))
    assert line == "error: email: nobody@example.com is not on the list"


def test_erasure_deletes_the_reports_and_rate_hits_about_the_address(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        session.add(Subscriber(email="ada@example.com", status=SubscriberStatus.CONFIRMED))
        for who in ("ada@example.com", "bo@example.com"):
            session.add(
                IntakeEvent(
                    source="mbox",
                    event_key=f"<dsn-{who}>",
                    kind="hard_bounce",
                    email=who,
                    raw=f"To: Ada Lovelace <{who}>\n\n550 5.1.1",
                )
            )
            session.add(RateHit(key=address_key(who), at=NOW))
        session.add(RateHit(key="client:192.0.2.7", at=NOW))

    assert digest("subscribers", "remove", "Ada@Example.com", "--delete").exit_code == 0
    with sessions() as session:
        assert session.scalars(select(IntakeEvent.email)).all() == ["bo@example.com"]
        assert sorted(session.scalars(select(RateHit.key))) == [
            "address:bo@example.com",
            "client:192.0.2.7",
        ]


def test_an_erased_subscriber_stays_suppressed_and_no_import_brings_them_back(
    digest: CliRunnerCall, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions.begin() as session:
        session.add(Subscriber(email="ada@example.com", status=SubscriberStatus.UNSUBSCRIBED))
    today = dt.datetime.now(dt.UTC).date()
    erased = digest("subscribers", "remove", "ada@example.com", "--delete")
    assert erased.exit_code == 0, erased.output
    assert people(sessions) == {}
    held = suppressions(sessions)["ada@example.com"]
    assert (held.reason, held.detail) == ("manual", f"erased on request {today.isoformat()}")

    path = tmp_path / "old-list.csv"
    path.write_text("email,name\nada@example.com,Ada Lovelace\n", encoding="utf-8")
    done = digest("subscribers", "import", str(path))
    assert done.exit_code == 0, done.output
    assert done.stdout == (
        f"{path}: 1 added, 0 merged, 1 held back\n"
        "ada@example.com: suppressed (manual); stored as unsubscribed\n"
    )
    ada = people(sessions)["ada@example.com"]
    assert (ada.status, ada.confirmed_at) == ("unsubscribed", None)


def test_suppress_and_unsuppress(digest: CliRunnerCall, sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(Subscriber(email="ada@example.com", status=SubscriberStatus.CONFIRMED))
    done = digest("subscribers", "suppress", "Ada@Example.com", "--detail", "asked by phone")
    assert (done.exit_code, done.stdout) == (0, "ada@example.com: suppressed\n")
    done = digest("subscribers", "suppress", "new@example.com", "--reason", "complaint")
    assert done.exit_code == 0
    again = digest("subscribers", "suppress", "ada@example.com", "--reason", "hard_bounce")
    assert again.stdout == "ada@example.com: already suppressed (manual); kept as it was\n"
    held = suppressions(sessions)
    assert (held["ada@example.com"].reason, held["ada@example.com"].detail) == (
        "manual",
        "asked by phone",
    )
    assert held["new@example.com"].reason == "complaint"
    assert people(sessions)["ada@example.com"].status == "confirmed"  # the row is untouched

    assert one_error_line(digest("subscribers", "suppress", "nope")).startswith(
        "error: email: 'nope' is not a valid address"
    )
    bad_reason = digest("subscribers", "suppress", "x@example.com", "--reason", "bored")
    assert bad_reason.exit_code == 2 and "'--reason'" in bad_reason.stderr

    done = digest("subscribers", "unsuppress", "ADA@example.com")
    assert (done.exit_code, done.stdout) == (0, "ada@example.com: no longer suppressed\n")
    assert set(suppressions(sessions)) == {"new@example.com"}
    line = one_error_line(digest("subscribers", "unsuppress", "ada@example.com"))
    assert line == "error: email: ada@example.com is not on the suppression list"


HYPERLINK = '=HYPERLINK("https://evil.example","x")'
# Subscribers in every state, with hostile and awkward values: email, name,
# status, categories, then created, confirmed, unsubscribed and paused until,
# in days from NOW.
A_LIST = [
    ("ada@example.com", "Ada Lovelace", "confirmed", "Data & Analytics|Design",
        -30, -29, None, None),
    ("=1+2@example.com", HYPERLINK, "confirmed", "", -20, -20, None, None),
    ("-minus@example.com", "'quoted, with a comma'", "pending", "", -10, None, None, None),
    ("left@example.com", '+Plus "Q"', "unsubscribed", "Design", -9, -8, -2, None),
    ("bounced@example.com", "@mention", "bounced", "", -5, -5, None, None),
    ("paused@example.com", None, "confirmed", "Design", -1, -1, None, 14),
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
        for email_, name, status, categories, created, confirmed, left, paused in A_LIST:
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
    }
    assert paused["paused_until"] == "2026-12-08T09:00:00+00:00"
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
    assert done.stdout == f"{first}: 7 added, 0 merged, 3 suppressed\n"
    assert digest("subscribers", "export", str(second)).exit_code == 0
    assert second.read_bytes() == first.read_bytes()

    stored = people(sessions)
    assert stored["=1+2@example.com"].name == HYPERLINK
    assert stored["-minus@example.com"].name == "'quoted, with a comma'"
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


def test_stats_count_the_list(digest: CliRunnerCall, sessions: sessionmaker[Session]) -> None:
    now = dt.datetime.now(dt.UTC)
    week = dt.timedelta(days=7)
    with sessions.begin() as session:
        session.add_all(
            [
                Subscriber(email="all@example.com", status="confirmed"),
                Subscriber(email="all2@example.com", status="confirmed"),
                Subscriber(email="held@example.com", status="confirmed", categories="A|B"),
                Subscriber(
                    email="away@example.com",
                    status="confirmed",
                    categories="B",
                    paused_until=now + 2 * week,
                ),
                Subscriber(
                    email="back@example.com",
                    status="confirmed",
                    categories="B",
                    paused_until=now - week,
                ),
                Subscriber(email="new@example.com", status="pending", created_at=now),
                Subscriber(
                    email="stale@example.com",
                    status="pending",
                    created_at=now - CONFIRM_WINDOW - dt.timedelta(hours=1),
                ),
                Subscriber(email="left@example.com", status="unsubscribed", categories="C"),
                Subscriber(email="bounced@example.com", status="bounced"),
                Suppression(email="held@example.com", reason="complaint"),
                Suppression(email="bounced@example.com", reason="hard_bounce"),
                Suppression(email="stranger@example.com", reason="manual"),
            ]
        )
    with sessions() as session:
        stats = list_stats(session, now)
    assert stats.by_status == {"pending": 2, "confirmed": 5, "unsubscribed": 1, "bounced": 1}
    assert stats.suppressed == {
        "unknown_user": 0,
        "hard_bounce": 1,
        "soft_bounces": 0,
        "complaint": 1,
        "manual": 1,
    }
    assert stats.stale_pending == 1
    # held@ is suppressed and away@ paused: neither receives the next edition.
    assert stats.segments == [
        Segment("", confirmed=2, receiving=2),
        Segment("B", confirmed=2, receiving=1),
        Segment("A|B", confirmed=1, receiving=0),
    ]
    assert stats.receiving == 3

    done = digest("subscribers", "stats")
    assert done.exit_code == 0, done.output
    out = done.stdout
    for label in ("Subscribers", "Suppressions", "Segments", "every category", "A, B"):
        assert label in out
    assert re.search(r"confirmed\s+│\s+5\s", out)
    assert "receiving the next edition: 3" in out
    assert "pending for longer than the 7-day confirmation window: 1" in out
