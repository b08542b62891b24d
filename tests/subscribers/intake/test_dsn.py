"""Bounce mailboxes: real DSNs, an ARF complaint and a mailed unsubscribe,
read from an mbox, a Maildir and a real IMAP server (Dovecot) on loopback;
forged reports, which change nothing."""

from __future__ import annotations

import dataclasses
import mailbox
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.intake.dsn import DELAYED, MessageError, classify
from subscribers.intake.mailboxes import MailboxError, fetch_imap, parse_imap_url, read_mailbox
from tests.support.commands import digest
from tests.support.dovecot import PASSWORD, Dovecot, run_dovecot
from tests.support.intakehelpers import state, status_of
from worker.compose.ids import EditionRef, envelope_sender, message_id_for
from worker.config import PROJECT_ROOT, Settings, load_settings
from worker.domain.states import SubscriberStatus
from worker.domain.suppression import IntakeKind
from worker.domain.tokens import Purpose, make_token, subscriber_payload
from worker.errors import ConfigError
from worker.store.models import IntakeEvent, Subscriber

BOUNCES = PROJECT_ROOT / "tests" / "fixtures" / "bounces"
PEOPLE = ("ada@example.org", "grace@example.net", "linus@example.com", "margaret@example.org")
WEEK48 = EditionRef(edition_id=1, week="2026-W48")


def fixture(name: str, token: str = "", message_id: str = "") -> bytes:
    """A sample message, with the unsubscribe token and the Message-ID of
    the message it quotes filled in (genuine ones are made by the test)."""
    data = (BOUNCES / name).read_bytes()
    return data.replace(b"UNSUBSCRIBE_TOKEN", token.encode()).replace(
        b"QUOTED_MESSAGE_ID", message_id.encode()
    )


def quoted(settings: Settings, subscriber_id: int, edition: EditionRef = WEEK48) -> str:
    """The Message-ID we gave ``edition``'s message to ``subscriber_id``."""
    return message_id_for(edition, subscriber_id, settings)


def verp_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, bounce_address="bounces@verdicts.example", verp=True)


def unsubscribe_token(settings: Settings, subscriber_id: int, list_id: str = "") -> str:
    payload = subscriber_payload(subscriber_id, list_id or settings.list_id)
    return make_token(settings, Purpose.UNSUBSCRIBE, payload)


@pytest.fixture
def people(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Four confirmed subscribers, by address."""
    with sessions.begin() as session:
        found = [Subscriber(email=e, status=SubscriberStatus.CONFIRMED) for e in PEOPLE]
        session.add_all(found)
        session.flush()
        return {s.email: s.id for s in found}


def the_mailbox(settings: Settings, people: dict[str, int]) -> list[bytes]:
    """The five samples, quoting the genuine Message-IDs of what we sent
    (and a genuine token for margaret), and an unreadable report in the
    middle."""
    token = unsubscribe_token(settings, people["margaret@example.org"])
    return [
        fixture("postfix-hard-5.1.1.eml", message_id=quoted(settings, people["ada@example.org"])),
        fixture("postfix-soft-4.2.2.eml", message_id=quoted(settings, people["grace@example.net"])),
        fixture("unreadable-report.eml"),
        fixture("arf-complaint.eml", message_id=quoted(settings, people["linus@example.com"])),
        fixture("unsubscribe-mailto.eml", token),
        fixture("not-a-bounce.eml"),
    ]


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    box = mailbox.mbox(path)
    for message in messages:
        box.add(message)
    box.flush()
    box.close()
    return path


def write_maildir(path: Path, messages: list[bytes]) -> Path:
    box = mailbox.Maildir(path, create=True)
    for message in messages:
        box.add(message)
    return path


def assert_the_mailbox_was_applied(sessions: sessionmaker[Session]) -> None:
    assert status_of(sessions, "ada@example.org") == ("bounced", 0, "hard_bounce")
    assert status_of(sessions, "grace@example.net") == ("confirmed", 1, None)
    assert status_of(sessions, "linus@example.com") == ("unsubscribed", 0, "complaint")
    assert status_of(sessions, "margaret@example.org") == ("unsubscribed", 0, None)


# Classification


def test_each_sample_is_classified(settings: Settings) -> None:
    hard = classify(fixture("postfix-hard-5.1.1.eml", message_id=quoted(settings, 1)), settings)
    # The quoted Message-ID proves subscriber 1; the intake checks that the
    # reported address is theirs.
    assert [(r.kind, r.email, r.subscriber_id) for r in hard] == [
        (IntakeKind.HARD_BOUNCE, "ada@example.org", 1)
    ]
    assert hard[0].detail is not None and hard[0].detail.startswith("5.1.1 smtp; 550 5.1.1")
    assert hard[0].event_key == "hard_bounce 2026-W48 ada@example.org"
    # Postfix gave up (Action: failed) on a full mailbox: the status says soft.
    soft = classify(fixture("postfix-soft-4.2.2.eml", message_id=quoted(settings, 2)), settings)
    assert [(r.kind, r.email, r.subscriber_id) for r in soft] == [
        (IntakeKind.SOFT_BOUNCE, "grace@example.net", 2)
    ]
    # Postfix still tries: a warning, not a bounce.
    delayed = classify(fixture("postfix-delayed.eml", message_id=quoted(settings, 2)), settings)
    assert [(r.kind, r.email, r.detail) for r in delayed] == [
        (IntakeKind.OTHER, "grace@example.net", DELAYED)
    ]
    complaint = classify(fixture("arf-complaint.eml", message_id=quoted(settings, 3)), settings)
    assert [(r.kind, r.email, r.subscriber_id) for r in complaint] == [
        (IntakeKind.COMPLAINT, None, 3)
    ]
    assert complaint[0].detail == (
        "feedback report: abuse from ExampleMail-Feedback/2.0; reported for linus@example.com"
    )
    unsubscribe = classify(
        fixture("unsubscribe-mailto.eml", unsubscribe_token(settings, 7)), settings
    )
    assert [(r.kind, r.subscriber_id) for r in unsubscribe] == [(IntakeKind.UNSUBSCRIBE, 7)]
    assert classify(fixture("not-a-bounce.eml"), settings) == []
    with pytest.raises(MessageError, match="names no recipient"):
        classify(fixture("unreadable-report.eml"), settings)


def test_a_forged_or_foreign_mailed_token_is_recorded_as_other(settings: Settings) -> None:
    genuine = unsubscribe_token(settings, 7)
    forged = genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB")
    foreign = unsubscribe_token(settings, 7, list_id="another-list")
    for token in (forged, foreign, "not-a-token"):
        found = classify(fixture("unsubscribe-mailto.eml", token), settings)
        assert [(r.kind, r.email, r.subscriber_id) for r in found] == [
            (IntakeKind.OTHER, "margaret@example.org", None)
        ]


def test_a_complaint_is_traced_by_the_quoted_token_or_a_verp_envelope(
    settings: Settings,
) -> None:
    redacted = (
        fixture("arf-complaint.eml", unsubscribe_token(settings, 42))
        .replace(b"Original-Rcpt-To: <linus@example.com>\n", b"")
        .replace(b"To: Linus <linus@example.com>", b"To: redacted@mail.example.com")
    )
    found = classify(redacted, settings)
    assert [(r.kind, r.email, r.subscriber_id) for r in found] == [(IntakeKind.COMPLAINT, None, 42)]
    verp = verp_settings(settings)
    signed_envelope = fixture("arf-complaint.eml").replace(
        b"bounces+2026-W48@verdicts.example", envelope_sender(verp, WEEK48, 43).encode()
    )
    found = classify(signed_envelope, verp)
    assert [(r.kind, r.email, r.subscriber_id) for r in found] == [(IntakeKind.COMPLAINT, None, 43)]


def test_forged_reports_prove_nothing_and_are_recorded_as_other(settings: Settings) -> None:
    ours = quoted(settings, 4)
    number, tag = ours.split(".")[2:4]
    forged_ids = (
        "",  # none quoted
        "<2026-W48.1.4.5c0ffee1d2a3@verdicts.example>",  # our form, a made-up tag
        ours.replace(f".{number}.{tag}", f".5.{tag}"),  # another subscriber, the same tag
        quoted(dataclasses.replace(settings, secret_key="someone-else's"), 4),
    )
    for message_id in forged_ids:
        [dsn] = classify(fixture("forged-dsn.eml", message_id=message_id), settings)
        assert (dsn.kind, dsn.email, dsn.subscriber_id) == (
            IntakeKind.OTHER,
            "margaret@example.org",
            None,
        ), message_id
        assert dsn.detail is not None
        assert dsn.detail.startswith("hard_bounce ignored: it quotes no Message-ID of ours")
        genuine = unsubscribe_token(settings, 4)
        for token in ("", genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB")):
            [arf] = classify(fixture("forged-arf.eml", token, message_id), settings)
            assert (arf.kind, arf.email, arf.subscriber_id) == (
                IntakeKind.OTHER,
                "margaret@example.org",
                None,
            )
            assert arf.detail is not None and arf.detail.startswith("complaint ignored: ")


def unreadable_bounce(envelope_to: str) -> bytes:
    """A mailer daemon's bounce in no format flufl.bounce knows, naming no address."""
    return (
        "Return-Path: <>\n"
        f"Delivered-To: {envelope_to}\n"
        "From: MAILER-DAEMON@mx.example.net\n"
        "To: undisclosed-recipients:;\n"
        "Subject: failure notice\n"
        "Message-ID: <verp-1@mx.example.net>\n"
        "\n"
        "Sorry, we were unable to deliver your message. The account is over quota.\n"
    ).encode()


def test_a_signed_verp_address_names_the_subscriber_of_a_bounce(settings: Settings) -> None:
    verp = verp_settings(settings)
    message = unreadable_bounce(envelope_sender(verp, WEEK48, 1234))
    found = classify(message, verp)
    assert [(r.kind, r.subscriber_id, r.event_key) for r in found] == [
        (IntakeKind.SOFT_BOUNCE, 1234, "soft_bounce 2026-W48 #1234")
    ]
    # Without BOUNCE_ADDRESS the envelope says nothing: the message is skipped.
    assert classify(message, settings) == []
    # A person's reply to the same address is not a bounce.
    reply = message.replace(b"From: MAILER-DAEMON@mx.example.net", b"From: ada@example.org")
    assert classify(reply, verp) == []
    # A report whose recipient cannot be read still gives its status.
    report = fixture("unreadable-report.eml").replace(
        b"bounces+2026-W48@verdicts.example", envelope_sender(verp, WEEK48, 77).encode()
    )
    found = classify(report, verp)
    assert [(r.kind, r.subscriber_id, r.detail) for r in found] == [
        (IntakeKind.HARD_BOUNCE, 77, "5.0.0")
    ]
    # The envelope is about subscriber 5's message, whatever address the
    # report names (a forwarded one, say): it applies to subscriber 5.
    forwarded = fixture("postfix-hard-5.1.1.eml").replace(
        b"bounces+2026-W48@verdicts.example", envelope_sender(verp, WEEK48, 5).encode()
    )
    [record] = classify(forwarded, verp)
    assert (record.kind, record.email, record.subscriber_id) == (IntakeKind.HARD_BOUNCE, None, 5)
    assert record.detail is not None and record.detail.endswith("; reported for ada@example.org")


def test_an_unsigned_or_forged_verp_address_proves_nothing(settings: Settings) -> None:
    verp = verp_settings(settings)
    genuine = envelope_sender(verp, WEEK48, 1234)
    for forged in (
        "bounces+2026-W48.1234@verdicts.example",  # the unsigned form of old
        genuine.replace(".1234.", ".1235."),
        genuine.replace("W48", "W49"),
        genuine[: genuine.index("@") - 8] + "0badc0de" + genuine[genuine.index("@") :],
    ):
        assert classify(unreadable_bounce(forged), verp) == [], forged
        report = fixture("forged-dsn.eml").replace(
            b"bounces+2026-W48@verdicts.example", forged.encode()
        )
        assert [r.kind for r in classify(report, verp)] == [IntakeKind.OTHER], forged


# mbox and Maildir


def test_an_mbox_is_applied_once_and_reading_it_again_changes_nothing(
    sessions: sessionmaker[Session], settings: Settings, people: dict[str, int], tmp_path: Path
) -> None:
    path = write_mbox(tmp_path / "bounces.mbox", the_mailbox(settings, people))
    report = read_mailbox(sessions, path, settings)
    assert report.messages == 6 and report.skipped == 1
    assert report.errors == [
        f"{path}: message 3: a delivery report that names no recipient we can read"
    ]
    assert dict(report.summary.applied) == {
        IntakeKind.HARD_BOUNCE: 1,
        IntakeKind.SOFT_BOUNCE: 1,
        IntakeKind.COMPLAINT: 1,
        IntakeKind.UNSUBSCRIBE: 1,
    }
    assert report.summary.suppressed == 2
    assert_the_mailbox_was_applied(sessions)
    before = state(sessions)
    again = read_mailbox(sessions, path, settings)
    assert again.summary.applied == {} and again.summary.already_seen == 4
    assert state(sessions) == before


def test_a_maildir_is_read_the_same_way(
    sessions: sessionmaker[Session], settings: Settings, people: dict[str, int], tmp_path: Path
) -> None:
    path = write_maildir(tmp_path / "Maildir", the_mailbox(settings, people))
    report = read_mailbox(sessions, path, settings)
    assert report.summary.suppressed == 2 and report.skipped == 1
    [error] = report.errors
    assert error.startswith(f"{path}: ") and error.endswith("names no recipient we can read")
    key = error.split(": ")[1]
    assert (path / "new" / key).is_file()  # the place names the file
    assert_the_mailbox_was_applied(sessions)
    before = state(sessions)
    assert read_mailbox(sessions, path, settings).summary.already_seen == 4
    assert state(sessions) == before


def test_soft_bounces_count_once_per_edition_and_suppress_at_the_limit(
    sessions: sessionmaker[Session], settings: Settings, people: dict[str, int], tmp_path: Path
) -> None:
    grace = people["grace@example.net"]

    def report(week: int, n: int) -> bytes:
        """The n-th report about the edition of 2026-W<week> to grace."""
        edition = EditionRef(edition_id=week, week=f"2026-W{week}")
        soft = fixture("postfix-soft-4.2.2.eml", message_id=quoted(settings, grace, edition))
        return soft.replace(b"4R9Tq20mXxz9sXb@", f"week{week}.{n}@".encode())

    # Two relays report the same message, and a delay warning came before:
    # one soft bounce.
    delayed = fixture("postfix-delayed.eml", message_id=quoted(settings, grace))
    first = [delayed, report(48, 1), report(48, 2)]
    one = read_mailbox(sessions, write_mbox(tmp_path / "one.mbox", first), settings)
    assert one.summary.applied == {IntakeKind.OTHER: 1, IntakeKind.SOFT_BOUNCE: 1}
    assert one.summary.already_seen == 1
    assert status_of(sessions, "grace@example.net") == ("confirmed", 1, None)
    two = [report(49, 1), report(49, 2)]
    read_mailbox(sessions, write_mbox(tmp_path / "two.mbox", two), settings)
    assert status_of(sessions, "grace@example.net") == ("confirmed", 2, None)
    three = read_mailbox(sessions, write_mbox(tmp_path / "three.mbox", [report(50, 1)]), settings)
    assert three.summary.suppressed == 1
    assert status_of(sessions, "grace@example.net") == ("confirmed", 3, "soft_bounces")


def test_forged_reports_change_nothing(
    sessions: sessionmaker[Session], settings: Settings, people: dict[str, int], tmp_path: Path
) -> None:
    verp = verp_settings(settings)
    margaret, grace = people["margaret@example.org"], people["grace@example.net"]
    genuine = quoted(verp, grace)
    token = unsubscribe_token(verp, margaret)
    messages = [
        fixture("forged-dsn.eml"),
        # margaret's number with the tag of grace's message
        fixture(
            "forged-dsn.eml", message_id=f"<2026-W48.1.{margaret}.{genuine.split('.')[3]}"
        ).replace(b"F0RG3D", b"F0RG3D-2"),
        # Genuine, but about grace's message: it cannot speak for margaret.
        fixture("forged-dsn.eml", message_id=genuine).replace(b"F0RG3D", b"F0RG3D-3"),
        fixture("forged-arf.eml", token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")),
        unreadable_bounce(f"bounces+2026-W48.{margaret}@verdicts.example"),
        unreadable_bounce(
            envelope_sender(verp, WEEK48, margaret)[:-25] + "0badc0de@verdicts.example"
        ),
    ]
    before = state(sessions)
    report = read_mailbox(sessions, write_mbox(tmp_path / "forged.mbox", messages), verp)
    assert report.errors == [] and report.skipped == 2
    assert report.summary.applied == {IntakeKind.OTHER: 4} and report.summary.suppressed == 0
    assert state(sessions)[:2] == before[:2]
    with sessions() as session:
        details = session.scalars(select(IntakeEvent.detail).order_by(IntakeEvent.id)).all()
    assert details[2] is not None and details[2].startswith(
        f"hard_bounce ignored: the message it is about went to subscriber #{grace}, not to it"
    )


def test_a_mailbox_that_is_not_there_or_not_a_maildir_is_refused(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(MailboxError, match="no such file"):
        read_mailbox(sessions, tmp_path / "missing.mbox", settings)
    (tmp_path / "plain").mkdir()
    with pytest.raises(MailboxError, match="not a Maildir"):
        read_mailbox(sessions, tmp_path / "plain", settings)


# IMAP


@pytest.fixture(scope="module")
def dovecot_server() -> Iterator[Dovecot]:
    with run_dovecot() as server:
        yield server


@pytest.fixture
def imap(dovecot_server: Dovecot) -> Dovecot:
    """The module's Dovecot with an empty INBOX."""
    with dovecot_server.client() as client:
        client.uid("STORE", "1:*", "+FLAGS.SILENT", r"(\Deleted)")
        client.expunge()
    return dovecot_server


def test_imap_fetch_applies_deletes_and_flags_by_outcome(
    sessions: sessionmaker[Session], settings: Settings, people: dict[str, int], imap: Dovecot
) -> None:
    imap.append(*the_mailbox(settings, people))
    uids = sorted(imap.flags())
    report = fetch_imap(sessions, imap.url(query="verify=off"), settings)
    assert report.messages == 6 and report.skipped == 1
    assert report.errors == [
        f"imaps://bounces:***@127.0.0.1:{imap.imaps_port}/INBOX?verify=off: UID {uids[2]}: "
        "a delivery report that names no recipient we can read"
    ]
    assert report.summary.suppressed == 2
    assert_the_mailbox_was_applied(sessions)
    # Applied messages are gone; the reply is left seen, the unreadable
    # report seen and flagged for a person.
    assert imap.flags() == {uids[2]: {r"\Seen", r"\Flagged"}, uids[5]: {r"\Seen"}}
    before = state(sessions)
    again = fetch_imap(sessions, imap.url(query="verify=off"), settings)
    assert again.messages == 0
    assert state(sessions) == before


def test_imap_with_starttls_and_messages_applied_before(
    sessions: sessionmaker[Session],
    settings: Settings,
    people: dict[str, int],
    imap: Dovecot,
    tmp_path: Path,
) -> None:
    messages = the_mailbox(settings, people)
    read_mailbox(sessions, write_mbox(tmp_path / "copy.mbox", messages), settings)
    before = state(sessions)
    # As after a run stopped between its commit and its flags: the messages
    # are fetched again, change nothing, and are deleted this time.
    imap.append(*messages)
    uids = sorted(imap.flags())
    report = fetch_imap(sessions, imap.url("imap", query="verify=off"), settings)
    assert report.summary.applied == {} and report.summary.already_seen == 4
    assert state(sessions) == before
    assert sorted(imap.flags()) == [uids[2], uids[5]]


def test_imap_verifies_the_server_certificate_by_default(settings: Settings, imap: Dovecot) -> None:
    with pytest.raises(MailboxError, match="CERTIFICATE_VERIFY_FAILED") as caught:
        fetch_imap(sessionmaker(), imap.url(), settings)
    assert PASSWORD not in str(caught.value)


def test_imap_urls_are_parsed_by_position() -> None:
    target = parse_imap_url("imaps://me%40example.org:pa/ss?w#rd@imap.example.org/Bounces%20In")
    assert (target.user, target.password) == ("me@example.org", "pa/ss?w#rd")
    assert (target.host, target.port, target.mailbox) == ("imap.example.org", 993, "Bounces In")
    assert target.implicit_tls and target.verify
    plain = parse_imap_url("imap://u:p@127.0.0.1:1143/?starttls=off&timeout=5")
    assert (plain.port, plain.mailbox, plain.starttls, plain.timeout) == (1143, "INBOX", False, 5)
    for bad in ("pop3://u:p@host/", "imaps://host/INBOX", "imaps://u:p@host:99999/"):
        with pytest.raises(ConfigError) as caught:
            parse_imap_url(bad)
        assert ":p@" not in str(caught.value)
    settings = load_settings({"BOUNCE_IMAP_URL": "imaps://u:imap-secret@host/INBOX"})
    assert "imap-secret" not in repr(settings)


# The command


def test_bounces_read_prints_a_summary_and_the_unreadable_places(
    sessions: sessionmaker[Session],
    settings: Settings,
    people: dict[str, int],
    database_url: str,
    tmp_path: Path,
) -> None:
    path = write_mbox(tmp_path / "bounces.mbox", the_mailbox(settings, people))
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": settings.secret_key}
    done = digest(env, "bounces", "read", str(path))
    assert done.returncode == 1
    assert (
        f"{path}: 6 messages: 1 hard bounce, 1 soft bounce, 1 complaint, 1 unsubscribe, "
        "0 others; 1 skipped, 0 already seen, 1 unreadable; 2 addresses suppressed"
    ) in done.stdout
    assert f"{path}: message 3: a delivery report that names no recipient" in done.stderr
    assert_the_mailbox_was_applied(sessions)


def test_bounces_fetch_never_prints_the_password(
    sessions: sessionmaker[Session],
    settings: Settings,
    people: dict[str, int],
    database_url: str,
    imap: Dovecot,
) -> None:
    imap.append(
        fixture("postfix-hard-5.1.1.eml", message_id=quoted(settings, people["ada@example.org"]))
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": settings.secret_key,
        "BOUNCE_IMAP_URL": imap.url(query="verify=off"),
    }
    done = digest(env, "bounces", "fetch")
    assert done.returncode == 0, done.stderr
    assert "1 hard bounce" in done.stdout and "bounces:***@127.0.0.1" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr
    refused = digest({**env, "BOUNCE_IMAP_URL": imap.url()}, "bounces", "fetch")
    assert refused.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr
    assert PASSWORD not in refused.stdout + refused.stderr
    assert status_of(sessions, "ada@example.org") == ("bounced", 0, "hard_bounce")


# Last of the IMAP tests: Dovecot slows down logins from an address that
# has just failed one.
def test_imap_wrong_password_is_a_clear_error_without_the_password(
    settings: Settings, imap: Dovecot
) -> None:
    url = imap.url(query="verify=off").replace(PASSWORD, "wrong-pass")
    with pytest.raises(MailboxError, match="AUTHENTICATIONFAILED") as caught:
        fetch_imap(sessionmaker(), url, settings)
    assert "wrong-pass" not in str(caught.value) and ":***@" in str(caught.value)
