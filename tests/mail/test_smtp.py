"""The SMTP backend against a real server (aiosmtpd): plain, STARTTLS + AUTH
and implicit TLS; PIPELINING and not; refusals, drops, stalls and pools."""

from __future__ import annotations

import logging
import time

import pytest

from tests.support.outgoing import message
from tests.support.smtpserver import Handler, self_signed, smtp_server
from worker.domain.suppression import SuppressionReason
from worker.errors import MailError
from worker.mail import backend_from_url
from worker.mail.base import Outcome, OutgoingMessage
from worker.mail.smtp import SMTPBackend

PASSWORD = "s3cret-pa55word"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return self_signed(tmp_path_factory.mktemp("tls"))


def test_one_connection_carries_every_batch(handler: Handler, smtp_port: int) -> None:
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off")
    with backend:
        first = backend.send_batch([message(n) for n in range(5)])
        second = backend.send_batch([message(n) for n in range(5, 8)])
    assert [r.outcome for r in first + second] == [Outcome.ACCEPTED] * 8
    assert handler.connections == 1
    assert [e.rcpt_tos for e in handler.envelopes] == [[f"reader{n}@example.com"] for n in range(8)]
    assert handler.envelopes[0].mail_from == "digest@verdicts.example"


@pytest.mark.parametrize("pipelining", [True, False])
def test_refusals_are_permanent_or_transient_with_the_servers_words(
    handler: Handler, smtp_port: int, pipelining: bool
) -> None:
    handler.pipelining = pipelining
    handler.replies = {
        "gone@example.com": "550 5.1.1 <gone@example.com>: no such user",
        "busy@example.com": "451 4.3.0 try again later",
    }
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off")
    with backend:
        results = backend.send_batch(
            [message(1, "gone@example.com"), message(2, "busy@example.com"), message(3)]
        )
    gone, busy, fine = results
    assert (gone.outcome, gone.code) == (Outcome.PERMANENT, 550)
    assert "no such user" in gone.text and gone.suppress == SuppressionReason.UNKNOWN_USER
    assert busy.suppress is None
    assert fine.suppress is None
    assert (busy.outcome, busy.code) == (Outcome.TRANSIENT, 451)
    assert fine.outcome == Outcome.ACCEPTED
    assert handler.connections == 1  # a refusal does not cost the connection


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_dropped_connection_is_reopened_once(
    handler: Handler, smtp_port: int, pipelining: bool
) -> None:
    handler.pipelining = pipelining
    handler.drop_after = 2
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off")
    with backend:
        results = backend.send_batch([message(n) for n in range(5)])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 5
    assert handler.connections == 2
    assert len(handler.envelopes) == 5


def test_each_message_gets_its_own_answer_when_envelopes_ride_ahead(
    handler: Handler, smtp_port: int
) -> None:
    """With PIPELINING the next message's envelope goes out with the current
    message's content: refusals, a drop and a stall midway still land on the
    right message, and the ones after it go out."""
    handler.replies = {
        "reader1@example.com": "550 5.1.1 <reader1@example.com>: no such user",
        "reader3@example.com": "452 4.2.2 mailbox full",
    }
    handler.script = {"reader5@example.com": ["drop"], "reader7@example.com": ["stall"]}
    handler.stall_seconds = 2.0
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off&timeout=1")
    with backend:
        results = backend.send_batch([message(n) for n in range(10)])
    outcomes = [(r.outcome, r.code) for r in results]
    assert outcomes[1] == (Outcome.PERMANENT, 550) and "no such user" in results[1].text
    assert outcomes[3] == (Outcome.TRANSIENT, 452)
    assert results[7].outcome == Outcome.TRANSIENT and "timed out" in results[7].text
    accepted = {n for n, r in enumerate(results) if r.outcome == Outcome.ACCEPTED}
    assert accepted == {0, 2, 4, 5, 6, 8, 9}  # 5 was dropped once, then sent again
    delivered = [r for e in handler.envelopes for r in e.rcpt_tos]
    assert sorted(delivered) == sorted(f"reader{n}@example.com" for n in accepted)


@pytest.mark.parametrize("pipelining", [True, False])
def test_an_address_that_would_break_the_envelope_is_refused_alone(
    handler: Handler, smtp_port: int, pipelining: bool
) -> None:
    handler.pipelining = pipelining
    hostile = ["x@example.com>\r\nRCPT TO:<victim@example.com", "josé@example.com"]
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off")
    with backend:
        results = backend.send_batch([message(1), *(message(2, h) for h in hostile), message(3)])
    assert [(r.outcome, r.code) for r in results] == [
        (Outcome.ACCEPTED, 250),
        (Outcome.PERMANENT, 501),
        (Outcome.PERMANENT, 501),
        (Outcome.ACCEPTED, 250),
    ]
    delivered = [r for e in handler.envelopes for r in e.rcpt_tos]
    assert delivered == ["reader1@example.com", "reader3@example.com"]


REFUSALS_OF_US = {
    "mail": "553 5.7.1 <digest@verdicts.example>: sender not allowed",
    # Postfix checks the sender and relaying at RCPT unless told otherwise.
    "rcpt-sender": "550 5.1.8 <digest@verdicts.example>: Sender address rejected: Domain not found",
    "rcpt-relay": "554 5.7.1 <reader0@example.com>: Relay access denied",
}


@pytest.mark.parametrize("pipelining", [True, False])
@pytest.mark.parametrize("where", REFUSALS_OF_US)
def test_a_relay_that_refuses_us_charges_no_recipient(
    handler: Handler, smtp_port: int, pipelining: bool, where: str
) -> None:
    """A refusal of our sender or of relaying says the relay takes no mail of
    ours at all: every message comes back unsent, nobody is suppressed."""
    handler.pipelining = pipelining
    if where == "mail":
        handler.mail_reply = REFUSALS_OF_US[where]
    else:
        handler.rcpt_reply = REFUSALS_OF_US[where]
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off&connections=2")
    with backend:
        results = backend.send_batch([message(n) for n in range(6)])
    code = int(REFUSALS_OF_US[where][:3])
    assert {(r.outcome, r.code, r.suppress) for r in results} == {(Outcome.UNSENT, code, None)}
    assert handler.envelopes == []


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_sender_refused_for_now_defers_each_message_on_one_connection(
    handler: Handler, smtp_port: int, pipelining: bool
) -> None:
    """A 4xx to MAIL FROM speaks of now, not of the relay for good: each
    message is answered transient and the connection goes on."""
    handler.pipelining = pipelining
    handler.mail_reply = "451 4.3.0 try again later"
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off")
    with backend:
        results = backend.send_batch([message(n) for n in range(3)])
    assert {(r.outcome, r.code, r.text) for r in results} == {
        (Outcome.TRANSIENT, 451, "4.3.0 try again later")
    }
    assert handler.connections == 1 and handler.envelopes == []


def test_a_connection_that_breaks_unexpectedly_never_hangs_the_batch(
    handler: Handler, smtp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever goes wrong inside a sending thread, it hands its messages
    back instead of dying and leaving the batch waiting for it."""
    broken = OutgoingMessage("digest@verdicts.example", "b@example.com", None, "<b>")  # type: ignore[arg-type]
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off")
    with backend:
        results = backend.send_batch([message(1), broken, message(3)])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.UNSENT, Outcome.UNSENT]
    assert "AttributeError" in results[1].text
    assert any(r.levelname == "ERROR" and r.exc_info for r in caplog.records)


def test_connections_the_server_turns_away_hand_their_messages_to_the_others(
    handler: Handler, smtp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    handler.max_connections = 1
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off&connections=3")
    with backend:
        first = backend.send_batch([message(n) for n in range(12)])
        second = backend.send_batch([message(n) for n in range(12, 20)])
    assert [r.outcome for r in first + second] == [Outcome.ACCEPTED] * 20
    delivered = sorted(r for e in handler.envelopes for r in e.rcpt_tos)
    assert delivered == sorted(f"reader{n}@example.com" for n in range(20))
    warnings = [r for r in caplog.records if "cannot send" in r.getMessage()]
    assert len(warnings) == 1 and "421" in warnings[0].getMessage()


def test_a_pool_spreads_a_batch_over_its_connections_in_order(
    handler: Handler, smtp_port: int
) -> None:
    handler.replies = {"reader3@example.com": "550 5.1.1 no such user"}
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off&connections=3")
    with backend:
        results = backend.send_batch([message(n) for n in range(10)])
        more = backend.send_batch([message(n) for n in range(10, 16)])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3 + [Outcome.PERMANENT] + [
        Outcome.ACCEPTED
    ] * 6
    assert all(r.outcome == Outcome.ACCEPTED for r in more)
    assert handler.connections == 3
    assert sorted(r for e in handler.envelopes for r in e.rcpt_tos) == sorted(
        f"reader{n}@example.com" for n in range(16) if n != 3
    )


def test_dots_at_line_starts_survive_the_pipelined_path(handler: Handler, smtp_port: int) -> None:
    data = (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: dots\r\n\r\n"
        b".starts with a dot\r\n..two dots\r\n.\r\nend\r\n"
    )
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off")
    with backend:
        result = backend.send_batch(
            [OutgoingMessage("a@example.com", "b@example.com", data, "<d>")]
        )
    assert result[0].outcome == Outcome.ACCEPTED
    assert handler.envelopes[0].original_content.endswith(
        b".starts with a dot\r\n..two dots\r\n.\r\nend\r\n"
    )


def test_a_rate_limit_paces_the_whole_pool(handler: Handler, smtp_port: int) -> None:
    """``?rate=`` holds the next message back, not a transaction open: with
    two connections and a burst of one, six messages take five intervals."""
    url = f"smtp://127.0.0.1:{smtp_port}?starttls=off&connections=2&rate=20&burst=1"
    backend = backend_from_url(url)
    began = time.monotonic()
    with backend:
        results = backend.send_batch([message(n) for n in range(6)])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 6
    assert time.monotonic() - began >= 5 / 20
    assert len(handler.envelopes) == 6


def test_a_server_without_pipelining_over_a_pool(handler: Handler, smtp_port: int) -> None:
    handler.pipelining = False
    handler.replies = {"reader4@example.com": "550 5.1.1 no such user"}
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off&connections=3")
    with backend:
        results = backend.send_batch([message(n) for n in range(9)])
    assert [r.outcome for r in results].count(Outcome.ACCEPTED) == 8
    assert results[4].outcome == Outcome.PERMANENT
    assert handler.connections == 3


def test_starttls_and_auth(tls, handler: Handler) -> None:  # type: ignore[no-untyped-def]
    with smtp_server(handler, tls_context=tls, auth=("digest", PASSWORD)) as controller:
        url = f"smtp://digest:{PASSWORD}@127.0.0.1:{controller.port}?starttls=require&verify=off"
        with backend_from_url(url) as backend:
            results = backend.send_batch([message(1)])
    assert results[0].outcome == Outcome.ACCEPTED
    assert len(handler.envelopes) == 1


def test_implicit_tls(tls, handler: Handler) -> None:  # type: ignore[no-untyped-def]
    with smtp_server(handler, tls_context=tls, implicit_tls=True, auth=("u", PASSWORD)) as server:
        url = f"smtps://u:{PASSWORD}@127.0.0.1:{server.port}?verify=off"
        backend = backend_from_url(url)
        assert isinstance(backend, SMTPBackend) and backend.implicit_tls
        with backend:
            assert backend.send_batch([message(1)])[0].outcome == Outcome.ACCEPTED


def test_certificates_are_verified_by_default(tls, handler: Handler) -> None:  # type: ignore[no-untyped-def]
    with smtp_server(handler, tls_context=tls) as controller:
        backend = backend_from_url(f"smtp://127.0.0.1:{controller.port}?starttls=require")
        with pytest.raises(MailError, match="CERTIFICATE_VERIFY_FAILED"):
            backend.open()


def test_a_wrong_password_never_shows_the_password(
    tls,
    handler: Handler,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_server(handler, tls_context=tls, auth=("digest", "right-one")) as controller:
        url = f"smtp://digest:{PASSWORD}@127.0.0.1:{controller.port}?verify=off"
        with pytest.raises(MailError) as caught:
            backend_from_url(url).open()
    text = str(caught.value)
    assert "535" in text and "***" in text
    assert PASSWORD not in text
    assert caught.value.__cause__ is None and caught.value.__context__ is not None
    assert PASSWORD not in caplog.text


def test_an_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(MailError, match=r"cannot send through smtp://127\.0\.0\.1:9/"):
        backend_from_url("smtp://127.0.0.1:9/?timeout=2").open()


def test_a_server_down_mid_send_hands_the_messages_back_unsent(handler: Handler) -> None:
    """No recipient is charged for a server that cannot be reached: the
    messages come back unsent, to be claimed again, with no attempt counted."""
    with smtp_server(handler) as controller:
        backend = backend_from_url(f"smtp://127.0.0.1:{controller.port}?starttls=off&timeout=2")
        backend.open()
        assert backend.send_batch([message(1)])[0].outcome == Outcome.ACCEPTED
    results = backend.send_batch([message(2), message(3)])
    backend.close()
    assert [r.outcome for r in results] == [Outcome.UNSENT] * 2
    assert "Connection refused" in results[0].text
