"""The composer: headers inbox providers ask for, both parts, signed links."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from support.digests import big_digest
from worker.compose.ids import (
    EditionRef,
    SentTo,
    envelope_sender,
    message_id_for,
    subscriber_of_envelope,
    subscriber_of_message_id,
)
from worker.compose.message import Recipient, SegmentParts, compose_message
from worker.compose.template import MessageTemplate
from worker.config import PROJECT_ROOT, Settings
from worker.domain import placeholders
from worker.domain.tokens import BadToken, Purpose, read_token
from worker.render.renderer import Renderer

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
EDITION = EditionRef(edition_id=7, week="2026-W48")
NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def compose(settings: Settings, recipient: Recipient, **kwargs: object) -> EmailMessage:
    out = compose_message(PARTS, recipient, EDITION, settings, now=NOW, **kwargs)  # type: ignore[arg-type]
    parsed = email.message_from_bytes(out.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.fixture
def ada() -> Recipient:
    return Recipient(subscriber_id=42, email="ada@example.com", name="Ada Lovelace")


def test_headers_for_bulk_senders(settings: Settings, ada: Recipient) -> None:
    message = compose(settings, ada)
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
    assert "X-Digest-Test" not in message


def test_multipart_alternative_text_then_html_with_links_filled(
    settings: Settings, ada: Recipient
) -> None:
    message = compose(settings, ada)
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


def test_message_id_is_stable_per_delivery_and_unguessable(
    settings: Settings, ada: Recipient
) -> None:
    first = compose(settings, ada)["Message-ID"]
    again = compose(settings, ada)["Message-ID"]
    other = compose(settings, dataclasses.replace(ada, subscriber_id=43))["Message-ID"]
    assert first == again != other
    assert re.fullmatch(r"<2026-W48\.7\.42\.[0-9a-f]{12}@verdicts\.example>", first)
    rekeyed = dataclasses.replace(settings, secret_key="another-key")
    assert compose(rekeyed, ada)["Message-ID"] != first


def test_feedback_id_is_the_same_for_every_recipient(settings: Settings, ada: Recipient) -> None:
    bob = Recipient(subscriber_id=2, email="bob@example.com", name=None)
    assert compose(settings, ada)["Feedback-ID"] == compose(settings, bob)["Feedback-ID"]
    assert compose(settings, bob)["To"] == "bob@example.com"


def test_a_test_send_is_marked(settings: Settings, ada: Recipient) -> None:
    message = compose(settings, ada, test=True)
    assert message["Subject"] == f"[TEST] {PARTS.subject}"
    assert message["X-Digest-Test"] == "yes"


def test_list_unsubscribe_is_written_literally(settings: Settings, ada: Recipient) -> None:
    # Mailbox providers read the <URI>s as they stand: no RFC 2047 encoding,
    # folded only between the two URIs.
    out = compose_message(PARTS, ada, EDITION, settings, now=NOW)
    head = out.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    match = re.search(r"^List-Unsubscribe: (<https://[^>]+>),\r\n (<mailto:[^>]+>)\r\n", head, re.M)
    assert match is not None, head
    assert "=?" not in match[0]
    assert all(len(line) <= 998 for line in out.data.split(b"\r\n"))


NAMES = [
    None,
    "Ada Lovelace",
    "Zoë Ångström",
    'Quote "Me", Jr.',
    "Eve\r\nBcc: all@example.com",
    "O'Brien (team lead)",
    "A very long display name that will certainly need folding in the To header line",
    "李小龍",
    "",
]


@pytest.mark.parametrize("test_send", [False, True])
def test_the_hot_path_gives_the_bytes_of_a_full_compose(
    settings: Settings, test_send: bool
) -> None:
    rendered = Renderer(PROJECT_ROOT / "templates").render(big_digest(5, 30))
    parts = SegmentParts(rendered.subject, rendered.html, rendered.text)
    template = MessageTemplate(parts, EDITION, settings, test=test_send, with_fields=True)
    for index, name in enumerate(NAMES):
        recipient = Recipient(subscriber_id=1000 + index, email=f"r{index}@example.com", name=name)
        slow = compose_message(
            parts, recipient, EDITION, settings, now=NOW, test=test_send, with_fields=True
        )
        fast = template.compose(recipient, NOW)
        assert fast == slow, name


def test_the_hot_path_copes_with_awkward_bodies(settings: Settings, ada: Recipient) -> None:
    """Two links on a line, a link on the first and on the last line (with
    no newline after it), long lines that quoted-printable must break, and a
    stray NUL, which neither path lets through."""
    vote = f"https://verdicts.example/vote/{placeholders.VOTE_TOKEN}"
    html = (
        f'<a href="{placeholders.UNSUBSCRIBE_URL}">u</a> <a href="{placeholders.PREFERENCES_URL}">'
        f"p</a>\n<p>{'x' * 200}\x00</p>\n\n{vote}/a/ship {vote}/a/skip {'y=' * 60}"
    )
    text = f"{vote}/a/ship\r\n\r\n=3D {'é' * 100}\n{placeholders.UNSUBSCRIBE_URL}"
    parts = SegmentParts("Awkward", html, text)
    fast = MessageTemplate(parts, EDITION, settings).compose(ada, NOW)
    assert fast == compose_message(parts, ada, EDITION, settings, now=NOW)
    parsed = email.message_from_bytes(fast.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(("html",))
    assert body is not None and "\x00" not in body.get_content()
    assert "%%" not in fast.data.decode("ascii")


def test_fields_for_email_apis_say_what_the_mime_says(settings: Settings, ada: Recipient) -> None:
    out = compose_message(PARTS, ada, EDITION, settings, now=NOW, test=True, with_fields=True)
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
    assert compose_message(PARTS, ada, EDITION, settings).fields is None


def test_envelope_sender_per_edition_and_verp(settings: Settings, ada: Recipient) -> None:
    bounces = dataclasses.replace(settings, bounce_address="bounces@verdicts.example")
    verp = dataclasses.replace(bounces, verp=True)
    parts = SegmentParts("s", "<p>h</p>", "t")
    assert compose_message(parts, ada, EDITION, settings).envelope_from == "digest@verdicts.example"
    assert compose_message(parts, ada, EDITION, bounces).envelope_from == (
        "bounces+2026-W48@verdicts.example"
    )
    tagged = compose_message(parts, ada, EDITION, verp).envelope_from
    assert re.fullmatch(r"bounces\+2026-W48\.42\.[0-9a-f]{8}@verdicts\.example", tagged)
    for config in (settings, bounces, verp):
        fast = MessageTemplate(parts, EDITION, config).compose(ada, NOW)
        assert fast == compose_message(parts, ada, EDITION, config, now=NOW)


def test_a_message_id_of_ours_names_its_subscriber_only_when_genuine(settings: Settings) -> None:
    genuine = message_id_for(EDITION, 42, settings)
    assert subscriber_of_message_id(genuine, settings) == SentTo("2026-W48", 42)
    assert subscriber_of_message_id(genuine.strip("<>").upper(), settings) == SentTo("2026-W48", 42)
    week, edition_id, subscriber_id, rest = genuine.split(".", 3)
    for forged in (
        f"{week}.{edition_id}.43.{rest}",  # another subscriber, the same tag
        f"{week}.8.{subscriber_id}.{rest}",  # another edition
        genuine.replace(rest[:12], "0" * 12),
        genuine.replace("@verdicts.example", "@elsewhere.example"),
        "<2026-W48.7.42@verdicts.example>",
        "<CAF3w1e+Zk9q@mail.example.org>",
    ):
        assert subscriber_of_message_id(forged, settings) is None, forged
    rotated = dataclasses.replace(
        settings, secret_key="new-key", old_secret_keys=("test-secret-key",)
    )
    assert subscriber_of_message_id(genuine, rotated) == SentTo("2026-W48", 42)
    assert subscriber_of_message_id(genuine, dataclasses.replace(settings, secret_key="x")) is None


def test_a_verp_address_names_its_subscriber_only_when_genuine(settings: Settings) -> None:
    verp = dataclasses.replace(settings, bounce_address="bounces@verdicts.example", verp=True)
    address = envelope_sender(verp, EDITION, 42)
    assert subscriber_of_envelope(address, verp) == SentTo("2026-W48", 42)
    assert subscriber_of_envelope(f"<{address.upper()}>", verp) == SentTo("2026-W48", 42)
    # Still read once VERP is off: its bounces arrive for days.
    assert subscriber_of_envelope(address, dataclasses.replace(verp, verp=False)) is not None
    tag = address.split("@")[0].rsplit(".", 1)[1]
    for forged in (
        address.replace(".42.", ".43."),
        address.replace("W48", "W49"),
        address.replace(tag, "0" * 8),
        "bounces+2026-W48.42@verdicts.example",  # the unsigned form
        address.replace("@verdicts.example", "@elsewhere.example"),
        address.replace("bounces+", "other+"),
        envelope_sender(verp, EDITION),
    ):
        assert subscriber_of_envelope(forged, verp) is None, forged
    assert subscriber_of_envelope(address, settings) is None  # no BOUNCE_ADDRESS


def test_dkim_signs_the_unsubscribe_headers_and_feedback_id(
    settings: Settings, ada: Recipient, tmp_path: Path
) -> None:
    import subprocess

    import dkim

    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    signing = dataclasses.replace(settings, dkim_key_file=key, dkim_selector="s1")
    parts = SegmentParts("Verdicts", f'<a href="{placeholders.UNSUBSCRIBE_URL}">u</a>', "t\n")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s1._domainkey.verdicts.example."
        return record

    slow = compose_message(parts, ada, EDITION, signing, now=NOW).data
    fast = MessageTemplate(parts, EDITION, signing).compose(ada, NOW).data
    for data in (slow, fast):
        assert data.startswith(b"DKIM-Signature:")
        assert dkim.verify(data, dnsfunc=dns)
        signed = re.search(rb"h=([^;]+);", data.replace(b"\r\n", b"").replace(b" ", b""))
        assert signed is not None
        names = signed[1].lower().split(b":")
        for header in (b"list-unsubscribe", b"list-unsubscribe-post", b"feedback-id"):
            assert header in names
    # The signatures carry their own time; the messages under them are the same.
    assert slow.split(b"\r\nFrom:", 1)[1] == fast.split(b"\r\nFrom:", 1)[1]
    tampered = slow.replace(
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: nothing"
    )
    assert not dkim.verify(tampered, dnsfunc=dns)
