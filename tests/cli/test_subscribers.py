"""List management from the command line: `digest subscribers add, remove,
suppress, unsuppress, stats`, on both stores (export: test_subscribers_export.py)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.ratelimit import address_key
from tests.support.cli import CliRunnerCall, one_error_line, people, suppressions
from tests.support.smtpserver import Handler, smtp_server
from tests.support.subscribers import a_mixed_list, tools_of
from worker.config import load_settings
from worker.domain.states import SubscriberStatus
from worker.domain.tokens import Purpose, read_token
from worker.mail.memory import MemoryBackend
from worker.store.models import IntakeEvent, RateHit, Subscriber, Suppression, Tool, Vote

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def test_add_stores_a_confirmed_or_pending_subscriber(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    tools_of(sessions, "Design", "Developer Tools")
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


def test_add_stores_the_readers_time_zone_as_the_database_spells_it(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    done = digest("subscribers", "add", "sg@example.com", "--timezone", "asia/singapore")
    assert done.exit_code == 0, done.output
    assert done.stdout == "sg@example.com: added, confirmed, every category, Asia/Singapore\n"
    assert digest("subscribers", "add", "list@example.com", "--timezone", "").exit_code == 0
    stored = people(sessions)
    assert (stored["sg@example.com"].timezone, stored["list@example.com"].timezone) == (
        "Asia/Singapore",
        None,
    )


def test_add_pending_says_when_the_confirmation_is_refused(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:

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
        (
            ("a@example.com", "--timezone", "Mars/Olympus"),
            "error: timezone: 'Mars/Olympus' is not a time zone of the IANA database",
        ),
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
        f"{path}: 1 row imported (1 added, 0 merged, 1 held back)\n"
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


def test_stats_count_the_list(digest: CliRunnerCall, sessions: sessionmaker[Session]) -> None:
    a_mixed_list(sessions, dt.datetime.now(dt.UTC))
    tools_of(sessions, "A", "B")
    done = digest("subscribers", "stats")
    assert done.exit_code == 0, done.output
    out = done.stdout
    for label in ("Subscribers", "Suppressions", "Segments", "every category", "A, B"):
        assert label in out
    assert "\n  confirmed: 5\n" in out  # off a terminal: a line per row
    assert "receiving the next edition: 3" in out
    assert "pending for longer than the 7-day confirmation window: 1" in out


def test_add_refuses_a_category_no_tool_has_naming_the_known_ones(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    tools_of(sessions, "Design", "Robotics")
    refused = digest("subscribers", "add", "ada@example.com", "--category", "Robotix")
    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: categories: no tool has the category 'Robotix' (did you mean 'Robotics'?)\n"
        "hint: the categories: Design, Robotics; "
        "--new-category NAME accepts one before any tool has it\n"
    )
    assert people(sessions) == {}
    done = digest("subscribers", "add", "ada@example.com", "--category", "design")
    assert done.stdout == "ada@example.com: added, confirmed, Design\n"


def test_a_new_category_is_accepted_when_named_so_or_before_any_tool_has_one(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    seeded = digest("subscribers", "add", "ada@example.com", "--category", "Robotics")
    assert (seeded.exit_code, seeded.stdout) == (
        0,
        "ada@example.com: added, confirmed, Robotics\n"
        "note: no tool has the category Robotics yet: nothing of it is sent until one does\n",
    )
    tools_of(sessions, "Design")
    done = digest(
        "subscribers", "add", "bo@example.com", "--category", "Design", "--new-category", "Quantum"
    )
    assert (done.exit_code, done.stdout) == (
        0,
        "bo@example.com: added, confirmed, Design, Quantum\n"
        "note: no tool has the category Quantum yet: nothing of it is sent until one does\n",
    )
    assert people(sessions)["bo@example.com"].categories == "Design|Quantum"


def test_stats_count_no_one_of_only_categories_no_tool_has_as_receiving(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    tools_of(sessions, "Design")
    for args in (
        ("design@example.com", "--category", "Design"),
        ("robots@example.com", "--new-category", "Robotix"),
        ("all@example.com",),
    ):
        assert digest("subscribers", "add", *args).exit_code == 0
    out = digest("subscribers", "stats").stdout
    assert "  Robotix: confirmed 1; receiving 0\n" in out
    assert (
        "note: no tool has the category Robotix yet: nothing of it is sent until one does\n" in out
    )
    assert "receiving the next edition: 2\n" in out
