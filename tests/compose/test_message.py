"""The composer: headers inbox providers ask for, both parts, signed links."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from email.message import EmailMessage

import pytest

from tests.support.messages import ADA, EDITION, NOW
from tests.support.smtpserver import Handler
from worker.compose.ids import message_id_for
from worker.compose.message import Recipient, SegmentParts, compose_message
from worker.config import Settings
from worker.domain import placeholders
from worker.domain.tokens import BadToken, Purpose, read_token
from worker.mail import backend_from_url
from worker.mail.base import Outcome, OutgoingMessage

PARTS = SegmentParts(
    subject="Claude Files API vs Claude Haiku Open Weights",
    html=(
        f'<p>100% · 50%</p><a href="{placeholders.UNSUBSCRIBE_URL}">Unsubscribe</a>'
        f'<a href="{placeholders.PREFERENCES_URL}">Preferences</a>'
        f'<a href="https://verdicts.example/vote/{placeholders.VOTE_TOKEN}/tool/ship">Ship</a>'
    ),
    text=(
        f"100% · 50%\nUnsubscribe: {placeholders.UNSUBSCRIBE_URL}\n"
        f"Preferences: {placeholders.PREFERENCES_URL}\n"
        f"Ship it: https://verdicts.example/vote/{placeholders.VOTE_TOKEN}/tool/ship\n"
    ),
)


def compose(settings: Settings, recipient: Recipient, **kwargs: object) -> EmailMessage:
    out = compose_message(PARTS, recipient, EDITION, settings, now=NOW, **kwargs)  # type: ignore[arg-type]
    parsed = email.message_from_bytes(out.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_headers_for_bulk_senders(settings: Settings) -> None:
    message = compose(settings, ADA)
    assert message["From"] == "Weekly AI Tool Verdicts <digest@verdicts.example>"
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["Subject"] == PARTS.subject
    assert message["Date"] == "Tue, 24 Nov 2026 09:00:00 +0000"
    assert message["MIME-Version"] == "1.0"
    assert message["List-Id"] == "Weekly AI Tool Verdicts <weekly.verdicts.example>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Feedback-ID"] == settings.feedback_id
    https, mailto = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    assert https.startswith("https://verdicts.example/u/")
    assert mailto.startswith("mailto:unsubscribe@verdicts.example?subject=unsubscribe%20")
    assert read_token(settings, Purpose.UNSUBSCRIBE, https.rsplit("/", 1)[1]) == [42, "weekly"]
    assert message["Message-ID"] == message_id_for(EDITION, 42, settings)
    assert "X-Digest-Test" not in message


def test_multipart_alternative_text_then_html_with_links_filled(settings: Settings) -> None:
    message = compose(settings, ADA)
    assert message.get_content_type() == "multipart/alternative"
    text_part, html_part = message.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert html_part.get_content_type() == "text/html"
    assert text_part.get_content_charset() == "utf-8"
    unsubscribe = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])[0]
    for part in (text_part.get_content(), html_part.get_content()):
        assert "100% · 50%" in part
        assert "%%" not in part
        assert unsubscribe in part
    preferences = re.search(r"/preferences/([\w.-]+)", html_part.get_content())
    vote = re.search(r"/vote/([\w.-]+)/tool/ship", html_part.get_content())
    assert preferences and vote
    assert read_token(settings, Purpose.PREFERENCES, preferences[1]) == [42, "weekly"]
    assert read_token(settings, Purpose.VOTE, vote[1]) == [42, "weekly"]
    with pytest.raises(BadToken):
        read_token(settings, Purpose.UNSUBSCRIBE, vote[1])  # a vote token unsubscribes nobody


def test_wire_format_is_crlf_and_ascii_headers(settings: Settings) -> None:
    zoe = Recipient(subscriber_id=3, email="zoe@example.org", name="Zoë Ångström")
    parts = dataclasses.replace(PARTS, subject="Verdicts: ✓ ship or ✗ skip — Zürich edition")
    out = compose_message(parts, zoe, EDITION, settings, now=NOW)
    head = out.data.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")  # RFC 2047 encoded words, no raw UTF-8 in headers
    assert b"\n" not in out.data.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(out.data, policy=email.policy.default)
    assert parsed["Subject"] == "Verdicts: ✓ ship or ✗ skip — Zürich edition"
    assert parsed["To"].addresses[0].display_name == "Zoë Ångström"
    assert out.envelope_from == "digest@verdicts.example"
    assert out.recipient == "zoe@example.org"


def test_a_crlf_in_a_name_injects_no_header(settings: Settings) -> None:
    eve = Recipient(subscriber_id=5, email="eve@example.com", name="Eve\r\nBcc: all@example.com")
    out = compose_message(PARTS, eve, EDITION, settings, now=NOW)
    parsed = email.message_from_bytes(out.data, policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert b"\r\nBcc:" not in out.data
    assert parsed["To"].addresses[0].addr_spec == "eve@example.com"


def test_feedback_id_is_the_same_for_every_recipient(settings: Settings) -> None:
    bob = Recipient(subscriber_id=2, email="bob@example.com", name=None)
    assert compose(settings, ADA)["Feedback-ID"] == compose(settings, bob)["Feedback-ID"]
    assert compose(settings, bob)["To"] == "bob@example.com"


def test_a_test_send_is_marked(settings: Settings) -> None:
    message = compose(settings, ADA, test=True)
    assert message["Subject"] == f"[TEST] {PARTS.subject}"
    assert message["X-Digest-Test"] == "yes"


def test_list_unsubscribe_is_written_literally(settings: Settings) -> None:
    # Mailbox providers read the <URI>s as they stand: no RFC 2047 encoding,
    # folded only between the two URIs.
    out = compose_message(PARTS, ADA, EDITION, settings, now=NOW)
    head = out.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    match = re.search(r"^List-Unsubscribe: (<https://[^>]+>),\r\n (<mailto:[^>]+>)\r\n", head, re.M)
    assert match is not None, head
    assert "=?" not in match[0]
    assert all(len(line) <= 998 for line in out.data.split(b"\r\n"))


def test_fields_for_email_apis_say_what_the_mime_says(settings: Settings) -> None:
    out = compose_message(PARTS, ADA, EDITION, settings, now=NOW, test=True, with_fields=True)
    assert out.fields is not None
    parsed = email.message_from_bytes(out.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and html is not None
    assert out.fields.text == text.get_content().replace("\r\n", "\n")
    assert out.fields.html == html.get_content().replace("\r\n", "\n")
    assert (out.fields.sender, out.fields.to, out.fields.subject) == (
        parsed["From"],
        parsed["To"],
        parsed["Subject"],
    )
    for name, value in out.fields.headers:
        assert parsed[name] == value, name
    assert {name for name, _ in out.fields.headers} >= {
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Feedback-ID",
        "X-Digest-Test",
    }
    assert compose_message(PARTS, ADA, EDITION, settings).fields is None


# Subjects and names of every length around where a header no longer fits
# after its name, in ASCII and not.
TITLE = "Claude Files API vs Claude Haiku Open Weights + 3 more comparisons of tools"


def words_of_length(length: int, start: str = "") -> str:
    """``start`` and the title's words, filled up to ``length`` characters."""
    text = start
    for word in TITLE.split() * 3:
        if len(text) + len(word) + 1 > length:
            break
        text = f"{text} {word}" if text else word
    return text + "x" * (length - len(text))


@pytest.mark.parametrize("start", ["", "Zürich ✓"], ids=["ascii", "non-ascii"])
def test_every_header_reads_back_as_written_from_what_an_smtp_server_received(
    settings: Settings, handler: Handler, smtp_port: int, start: str
) -> None:
    settings = dataclasses.replace(
        settings,
        mail_from=f"{words_of_length(80, start)} <digest@verdicts.example>",
        list_name=words_of_length(70, start),
    )
    sent: dict[str, tuple[Recipient, str, OutgoingMessage]] = {}
    for length in range(40, 110):
        for test in (False, True):
            subject = words_of_length(length, start)
            reader = Recipient(len(sent), f"r{len(sent)}@example.com", subject)
            parts = dataclasses.replace(PARTS, subject=subject)
            out = compose_message(parts, reader, EDITION, settings, now=NOW, test=test)
            sent[reader.email] = (reader, f"[TEST] {subject}" if test else subject, out)
    with backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off") as backend:
        results = backend.send_batch([out for _, _, out in sent.values()])
    assert {r.outcome for r in results} == {Outcome.ACCEPTED}

    received = {
        e.rcpt_tos[0]: email.message_from_bytes(e.original_content, policy=email.policy.default)
        for e in handler.envelopes
    }
    assert {to: str(m["Subject"]) for to, m in received.items()} == {
        to: subject for to, (_, subject, _) in sent.items()
    }
    for envelope in handler.envelopes:
        head = envelope.original_content.split(b"\r\n\r\n", 1)[0]
        # No value begins on the line after its name.
        assert re.search(rb"^[\w-]+:\r\n", head, re.M) is None, head
    for to, message in received.items():
        reader, _, out = sent[to]
        assert message["From"] == settings.mail_from
        assert message["To"].addresses[0].display_name == reader.name
        assert message["List-Id"] == f"{settings.list_name} <weekly.verdicts.example>"
        assert message["Message-ID"] == out.message_id
        assert message["List-Unsubscribe"].startswith("<https://verdicts.example/u/")
