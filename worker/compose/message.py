"""Rendered segment + recipient → the bytes of one message.

Every email the project sends is built here, so every message has the
headers inbox providers ask of bulk senders (DESIGN.md, "Messages that inbox
providers accept"). Pure: no I/O.

Two paths give the same bytes:

- :func:`compose_message`, the slow path: fills the recipient's links into
  the rendered parts, encodes them whole and serialises an ``EmailMessage``.
- :class:`MessageTemplate`, the hot path: the same message serialised once
  per segment with sentinels where per-recipient values go; each recipient
  costs a few header lines and the quoted-printable encoding of the short
  lines that hold their links (render puts each link on a line of its own,
  and quoted-printable is encoded line by line).
"""

from __future__ import annotations

import binascii
import datetime as dt
import functools
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.policy import EmailPolicy
from email.utils import format_datetime, formataddr, parseaddr

from worker import dkim_signing, placeholders
from worker.config import Settings
from worker.links import RecipientLinks, recipient_links
from worker.mail.base import MessageFields, OutgoingMessage

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
# A display name that needs neither quoting nor encoding.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ]*$")
# Headers whose values are lists of <URI>s: receivers parse them literally.
_URI_LIST_HEADERS = {"list-unsubscribe"}
_LONGEST_UNFOLDED = 78
_URI_FOLD = ",\r\n "


class _Policy(EmailPolicy):
    """SMTP policy, except that URI-list headers are folded only between
    URIs: the stock folder RFC 2047-encodes a long unbreakable URI, and
    mailbox providers do not decode List-Unsubscribe."""

    def fold_binary(self, name: str, value: str) -> bytes:
        uris = _uris(str(value)) if name.lower() in _URI_LIST_HEADERS else []
        if uris:
            return _uri_list_line(name, uris)
        return super().fold_binary(name, value)


POLICY = _Policy().clone(linesep="\r\n")


def _uris(value: str) -> list[str]:
    return [f"<{uri}>" for uri in re.findall(r"<([^<>\s]+)>", value)]


def _uri_list_line(name: str, uris: list[str]) -> bytes:
    return f"{name}: {_URI_FOLD.join(uris)}\r\n".encode("ascii")


@dataclass(frozen=True)
class SegmentParts:
    """A segment's rendered digest, with per-recipient placeholders."""

    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class Recipient:
    subscriber_id: int
    email: str
    name: str | None


@dataclass(frozen=True)
class EditionRef:
    edition_id: int
    week: str


def compose_message(
    parts: SegmentParts,
    recipient: Recipient,
    edition: EditionRef,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    test: bool = False,
    with_fields: bool = False,
) -> OutgoingMessage:
    """The message for ``recipient``, composed in full: multipart/alternative,
    text then HTML, with List-Unsubscribe (https and mailto), One-Click,
    List-Id, Feedback-ID and a Message-ID that is the same on every retry.
    ``with_fields`` adds its parts for an email API backend."""
    now = now or dt.datetime.now(dt.UTC)
    links = recipient_links(settings, recipient.subscriber_id, now)
    message_id = _message_id(edition, recipient.subscriber_id, settings, now, test)
    values = {
        "To": to_value(recipient),
        "Date": format_datetime(now),
        "Message-ID": message_id,
        "List-Unsubscribe": _list_unsubscribe(links),
    }
    data = _skeleton(
        parts.subject,
        values,
        quoted_printable(fill_placeholders(parts.text, links)),
        quoted_printable(fill_placeholders(parts.html, links)),
        edition,
        settings,
        test,
    )
    sender = envelope_sender(settings, edition, recipient.subscriber_id)
    fields = _fields(parts, recipient, links, settings, test) if with_fields else None
    signed = dkim_signing.sign(data, settings)
    return OutgoingMessage(sender, recipient.email, signed, message_id, fields)


def compose_notice(
    parts: SegmentParts,
    recipient: Recipient,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    with_fields: bool = False,
) -> OutgoingMessage:
    """A one-off message to one person (a confirmation, a welcome): the
    same encoding as the digest, without the list headers, since its
    reader may not be on the list."""
    now = now or dt.datetime.now(dt.UTC)
    message_id = f"<notice.{secrets.token_hex(12)}@{settings.list_domain}>"
    message = EmailMessage(policy=POLICY)
    message["From"] = settings.mail_from
    message["To"] = to_value(recipient)
    message["Subject"] = parts.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["MIME-Version"] = "1.0"
    message.make_alternative()
    message.attach(_part("plain", quoted_printable(parts.text)))
    message.attach(_part("html", quoted_printable(parts.html)))
    fields = None
    if with_fields:
        fields = MessageFields(
            sender=settings.mail_from,
            to=str(Address(display_name(recipient), addr_spec=recipient.email)),
            subject=parts.subject,
            text=_normalise(parts.text),
            html=_normalise(parts.html),
            headers=(),
        )
    data = dkim_signing.sign(message.as_bytes(), settings)
    return OutgoingMessage(envelope_sender(settings), recipient.email, data, message_id, fields)


def _sentinels() -> tuple[dict[str, str], str, str]:
    """Stand-ins for the per-recipient values of one template: header values,
    then the text and HTML bodies. A random part keeps content (a subject, a
    tool's name) from posing as one; the header ones also only count at the
    start of a line, where content never is."""
    nonce = secrets.token_hex(8)
    headers = {
        "To": f"to.{nonce}@invalid",
        # Date headers are parsed when set: the stand-in must be a real date.
        "Date": format_datetime(dt.datetime.fromtimestamp(secrets.randbelow(2**30), dt.UTC)),
        "Message-ID": f"<message-id.{nonce}@invalid>",
        "List-Unsubscribe": f"<https://list-unsubscribe.{nonce}.invalid/>",
    }
    return headers, f"@@text.{nonce}@@", f"@@html.{nonce}@@"


class MessageTemplate:
    """One segment's message, serialised once; :meth:`compose` fills in a
    recipient with byte joins and no parsing."""

    def __init__(
        self,
        parts: SegmentParts,
        edition: EditionRef,
        settings: Settings,
        *,
        test: bool = False,
        with_fields: bool = False,
    ) -> None:
        self.parts = parts
        self.edition = edition
        self.settings = settings
        self.test = test
        self.with_fields = with_fields
        self.envelope_from = envelope_sender(settings, edition)
        headers, text_mark, html_mark = _sentinels()
        skeleton = _skeleton(
            parts.subject,
            headers,
            text_mark.encode(),
            html_mark.encode(),
            edition,
            settings,
            test,
        )
        marks = {f"{name}: {value}\r\n".encode(): name for name, value in headers.items()}
        marks |= {text_mark.encode(): "text", html_mark.encode(): "html"}
        pattern = rb"((?<=\r\n)(?:" + b"|".join(map(re.escape, marks)) + rb"))"
        self._pieces: list[bytes | str] = [
            marks.get(piece, piece) if i % 2 else piece
            for i, piece in enumerate(re.split(pattern, skeleton))
        ]
        if sorted(p for p in self._pieces if isinstance(p, str)) != sorted(marks.values()):
            raise ValueError("a message template must hold each per-recipient part once")
        self._text = _LineChunks(parts.text)
        self._html = _LineChunks(parts.html)
        self._date: tuple[dt.datetime | None, bytes] = (None, b"")

    def compose(self, recipient: Recipient, now: dt.datetime) -> OutgoingMessage:
        """The same bytes :func:`compose_message` gives for ``recipient``."""
        links = recipient_links(self.settings, recipient.subscriber_id, now)
        message_id = _message_id(
            self.edition, recipient.subscriber_id, self.settings, now, self.test
        )
        if self._date[0] != now:  # a worker composes a whole batch at one time
            self._date = (now, _short_line("Date", format_datetime(now)))
        fields: dict[str, Callable[[], bytes]] = {
            "To": lambda: _to_line(recipient),
            "Date": lambda: self._date[1],
            "Message-ID": lambda: _short_line("Message-ID", message_id),
            "List-Unsubscribe": lambda: _uri_list_line(
                "List-Unsubscribe", [f"<{links.unsubscribe_url}>", f"<{links.unsubscribe_mailto}>"]
            ),
            "text": lambda: self._text.encode(links),
            "html": lambda: self._html.encode(links),
        }
        data = b"".join(
            piece if isinstance(piece, bytes) else fields[piece]() for piece in self._pieces
        )
        sender = (
            envelope_sender(self.settings, self.edition, recipient.subscriber_id)
            if self.settings.verp
            else self.envelope_from
        )
        signed = dkim_signing.sign(data, self.settings)
        fields = (
            _fields(self.parts, recipient, links, self.settings, self.test)
            if self.with_fields
            else None
        )
        return OutgoingMessage(sender, recipient.email, signed, message_id, fields)


class _LineChunks:
    """A body as runs of static lines, encoded once, around the lines that
    hold placeholders, encoded per recipient.

    The placeholder lines are filled and encoded together, as one string
    with a NUL line between each two (bodies hold no NUL: see
    :func:`_normalise`), and cut apart again where the encoded NUL lines
    stand: one fill and one encoding per body instead of one per link.
    """

    def __init__(self, body: str) -> None:
        static: list[bytes] = []
        dynamic: list[str] = []
        run: list[str] = []
        for line in _normalise(body).splitlines(keepends=True):
            if any(mark in line for mark in placeholders.ALL):
                static.append(quoted_printable("".join(run)))
                dynamic.append(line)
                run = []
            else:
                run.append(line)
        static.append(quoted_printable("".join(run)))
        self._static = static
        self._dynamic = _CUT.join(dynamic)

    def encode(self, links: RecipientLinks) -> bytes:
        if not self._dynamic:
            return self._static[0]
        filled = _qp(fill_placeholders(self._dynamic, links)).split(_ENCODED_CUT)
        pieces = self._static + filled
        pieces[0::2], pieces[1::2] = self._static, filled
        return b"".join(pieces)


_CUT = "\x00\n"
_ENCODED_CUT = b"=00\r\n"


def quoted_printable(text: str) -> bytes:
    """``text`` as UTF-8 quoted-printable with CRLF line ends. Each line is
    encoded on its own, so encoding a body in pieces cut at line ends gives
    the same bytes as encoding it whole."""
    return _qp(_normalise(text))


def _qp(text: str) -> bytes:
    """Quoted-printable of ``text`` whose newlines are already plain."""
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def fill_placeholders(rendered: str, links: RecipientLinks) -> str:
    """``rendered`` with the recipient's links where the placeholders stand.

    Tokens are URL-safe base64 and dots, so they need no escaping in HTML.
    """
    return (
        rendered.replace(placeholders.UNSUBSCRIBE_URL, links.unsubscribe_url)
        .replace(placeholders.PREFERENCES_URL, links.preferences_url)
        .replace(placeholders.VOTE_TOKEN, links.vote_token)
    )


def envelope_sender(
    settings: Settings, edition: EditionRef | None = None, subscriber_id: int | None = None
) -> str:
    """The SMTP envelope sender: ``MAIL_FROM``'s address, or with
    ``BOUNCE_ADDRESS`` set, that address tagged with the edition (and with
    ``VERP``, the subscriber and an HMAC of both:
    ``bounces+2026-W48.1234.89abcdef@…``), so a bounce says what it is about
    and nobody else can write such an address."""
    if not settings.bounce_address or edition is None:
        return parseaddr(settings.mail_from)[1]
    local, _, domain = parseaddr(settings.bounce_address)[1].rpartition("@")
    tag = edition.week
    if settings.verp and subscriber_id is not None:
        tag = f"{tag}.{subscriber_id}.{_verp_mac(settings.secret_key, edition.week, subscriber_id)}"
    return f"{local}+{tag}@{domain}"


def message_id_for(edition: EditionRef, subscriber_id: int, settings: Settings) -> str:
    """Deterministic, so a retried delivery keeps its id (clients dedupe on
    it); the HMAC keeps other subscribers' ids unguessable."""
    tag = _message_id_mac(settings.secret_key, edition.edition_id, subscriber_id)
    return f"<{edition.week}.{edition.edition_id}.{subscriber_id}.{tag}@{settings.list_domain}>"


def _message_id(
    edition: EditionRef, subscriber_id: int, settings: Settings, now: dt.datetime, test: bool
) -> str:
    """A delivery's Message-ID; a test's also names its time: Gmail drops a
    message whose Message-ID the mailbox has already seen, which would hide
    every test after the first."""
    message_id = message_id_for(edition, subscriber_id, settings)
    if not test:
        return message_id
    return f"<test.{now.timestamp():.6f}.{message_id[1:]}"


@dataclass(frozen=True)
class SentTo:
    """What a Message-ID or VERP envelope address of ours proves: the week's
    edition went to this subscriber."""

    week: str
    subscriber_id: int


_WEEK = r"(\d{4}-W\d{2})"
_ID = r"(\d{1,18})"


def subscriber_of_message_id(message_id: str, settings: Settings) -> SentTo | None:
    """The edition and subscriber a Message-ID made by :func:`message_id_for`
    names, when its HMAC is genuine (under ``SECRET_KEY`` or an
    ``OLD_SECRET_KEYS`` one); None for any other id."""
    found = re.fullmatch(
        rf"<?{_WEEK}\.{_ID}\.{_ID}\.([0-9a-f]{{12}})@{re.escape(settings.list_domain)}>?",
        message_id.strip(),
        re.IGNORECASE,
    )
    if not found:
        return None
    week, edition_id, subscriber_id, tag = found.groups()
    mac = functools.partial(
        _message_id_mac, edition_id=int(edition_id), subscriber_id=int(subscriber_id)
    )
    return SentTo(week.upper(), int(subscriber_id)) if _genuine(tag, mac, settings) else None


def subscriber_of_envelope(address: str, settings: Settings) -> SentTo | None:
    """The edition and subscriber a VERP envelope sender made by
    :func:`envelope_sender` names, when its HMAC is genuine; None for any
    other address, and for every address while ``BOUNCE_ADDRESS`` is unset.
    Not tied to ``VERP``: bounces of mail sent before it was turned off
    still arrive."""
    if not settings.bounce_address:
        return None
    local, _, domain = parseaddr(settings.bounce_address)[1].rpartition("@")
    found = re.fullmatch(
        rf"<?{re.escape(local)}\+{_WEEK}\.{_ID}\.([0-9a-f]{{8}})@{re.escape(domain)}>?",
        address.strip(),
        re.IGNORECASE,
    )
    if not found:
        return None
    week, subscriber_id, tag = found.groups()
    week = week.upper()
    mac = functools.partial(_verp_mac, week=week, subscriber_id=int(subscriber_id))
    return SentTo(week, int(subscriber_id)) if _genuine(tag, mac, settings) else None


def _message_id_mac(secret_key: str, edition_id: int, subscriber_id: int) -> str:
    mac = _keyed_sha256(secret_key).copy()
    mac.update(f"{edition_id}.{subscriber_id}".encode())
    return mac.hexdigest()[:12]


def _verp_mac(secret_key: str, week: str, subscriber_id: int) -> str:
    # "verp." keeps these apart from the Message-ID's HMACs under the same key.
    mac = _keyed_sha256(secret_key).copy()
    mac.update(f"verp.{week}.{subscriber_id}".encode())
    return mac.hexdigest()[:8]


def _genuine(tag: str, mac: Callable[[str], str], settings: Settings) -> bool:
    """Whether ``tag`` is what ``mac`` gives under ``SECRET_KEY`` or one of
    ``OLD_SECRET_KEYS``, compared in constant time."""
    keys = (settings.secret_key, *settings.old_secret_keys)
    return any(hmac.compare_digest(mac(key), tag.lower()) for key in keys)


@functools.lru_cache(maxsize=8)
def _keyed_sha256(secret_key: str) -> hmac.HMAC:
    return hmac.new(secret_key.encode(), digestmod="sha256")


def to_value(recipient: Recipient) -> str:
    """The To header's value; a display name cannot break out of its header."""
    return formataddr((display_name(recipient), recipient.email))


def display_name(recipient: Recipient) -> str:
    """The recipient's name as a To header may show it: on one line, and
    never one that looks like an RFC 2047 encoded word (``=?…?=``), which
    the header would decode into whatever it hides (line breaks, bad UTF-8,
    another address); such a name is left out."""
    name = _UNSAFE_NAME.sub(" ", recipient.name).strip() if recipient.name else ""
    return "" if "=?" in name else name


def _skeleton(
    subject: str,
    values: dict[str, str],
    text: bytes,
    html: bytes,
    edition: EditionRef,
    settings: Settings,
    test: bool,
) -> bytes:
    """The message with the given per-recipient header values and encoded bodies."""
    message = EmailMessage(policy=POLICY)
    message["From"] = settings.mail_from
    message["To"] = values["To"]
    message["Subject"] = _subject(subject, test)
    message["Date"] = values["Date"]
    message["Message-ID"] = values["Message-ID"]
    for name, value in _list_headers(settings, values["List-Unsubscribe"], test):
        message[name] = value
    message["MIME-Version"] = "1.0"
    message.make_alternative()
    message.attach(_part("plain", text))
    message.attach(_part("html", html))
    # "=_" cannot occur in quoted-printable, so the boundary cannot either.
    message.set_boundary(f"=_vd.{edition.week}.{edition.edition_id}")
    return message.as_bytes()


def _subject(subject: str, test: bool) -> str:
    return f"[TEST] {subject}" if test else subject


def _list_unsubscribe(links: RecipientLinks) -> str:
    return f"<{links.unsubscribe_url}>, <{links.unsubscribe_mailto}>"


def _list_headers(settings: Settings, list_unsubscribe: str, test: bool) -> list[tuple[str, str]]:
    """The headers a bulk sender owes inbox providers, after Message-ID."""
    headers = [
        ("List-Id", f"{settings.list_name} <{settings.list_id}.{settings.list_domain}>"),
        ("List-Unsubscribe", list_unsubscribe),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Feedback-ID", settings.feedback_id),
    ]
    if test:
        headers.append(("X-Digest-Test", "yes"))
    return headers


def _fields(
    parts: SegmentParts,
    recipient: Recipient,
    links: RecipientLinks,
    settings: Settings,
    test: bool,
) -> MessageFields:
    """The message's parts, for an email API backend."""
    return MessageFields(
        sender=settings.mail_from,
        # Unencoded: the service encodes headers itself.
        to=str(Address(display_name(recipient), addr_spec=recipient.email)),
        subject=_subject(parts.subject, test),
        text=fill_placeholders(_normalise(parts.text), links),
        html=fill_placeholders(_normalise(parts.html), links),
        headers=tuple(_list_headers(settings, _list_unsubscribe(links), test)),
    )


def _part(subtype: str, encoded: bytes) -> MIMEPart:
    part = MIMEPart(policy=POLICY)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(encoded.decode("ascii"))
    return part


def _to_line(recipient: Recipient) -> bytes:
    value = to_value(recipient)
    name = recipient.name.strip() if recipient.name else ""
    if (not name or _PLAIN_NAME.match(name)) and len(value) + 4 <= _LONGEST_UNFOLDED:
        return f"To: {value}\r\n".encode("ascii")
    return POLICY.fold_binary("To", _header("To", value))


def _short_line(name: str, value: str) -> bytes:
    if len(name) + len(value) + 2 <= _LONGEST_UNFOLDED:
        return f"{name}: {value}\r\n".encode("ascii")
    return POLICY.fold_binary(name, _header(name, value))


def _header(name: str, value: str) -> str:
    return POLICY.header_store_parse(name, value)[1]


def _normalise(text: str) -> str:
    """Newlines made plain, and NULs (never meant in a mail body) dropped."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
