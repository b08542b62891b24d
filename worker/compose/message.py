"""Rendered segment + recipient → the bytes of one message.

Every email the project sends is built in this package, so every message
has the headers inbox providers ask of bulk senders (DESIGN.md, "Messages
that inbox providers accept"). No I/O but reading the DKIM keys, once
(:mod:`worker.compose.dkim`).

Two paths give the same bytes:

- :func:`compose_message`, the slow path: fills the recipient's links into
  the rendered parts, encodes them whole and serialises an ``EmailMessage``.
- :class:`~worker.compose.template.MessageTemplate`, the hot path a worker
  takes: the same message serialised once per segment.

Both build on what is here: :func:`message_bytes` (the serialised message)
and the header lines as the wire carries them (:func:`header_line`,
:func:`to_line`, :func:`uri_list_line`). A one-off notice is composed here
too (:func:`compose_notice`).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.policy import EmailPolicy
from email.utils import format_datetime, formataddr

from worker.compose import dkim
from worker.compose.encoding import normalise, quoted_printable
from worker.compose.ids import EditionRef, envelope_sender, sent_message_id
from worker.compose.links import RecipientLinks, fill_placeholders, recipient_links
from worker.config import Settings
from worker.mail.base import MessageFields, OutgoingMessage
from worker.now import process_now

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


# A display name that needs neither quoting nor encoding.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ]*$")


# Headers whose values are lists of <URI>s: receivers parse them literally.
_URI_LIST_HEADERS = {"list-unsubscribe"}


_LONGEST_UNFOLDED = 78


_URI_FOLD = ",\r\n "


class _Policy(EmailPolicy):
    """SMTP policy, except that URI-list headers are folded only between
    URIs (the stock folder RFC 2047-encodes a long unbreakable URI, and
    mailbox providers do not decode List-Unsubscribe), and that a value
    always begins on its name's line."""

    def fold_binary(self, name: str, value: str) -> bytes:
        uris = _uris(str(value)) if name.lower() in _URI_LIST_HEADERS else []
        if uris:
            return uri_list_line(name, uris)
        return _begun_on_the_name_line(super().fold_binary(name, value))


def _begun_on_the_name_line(folded: bytes) -> bytes:
    """``folded`` with its value begun on the name's line.

    The stock folder moves a value that fits on a line of its own, but not
    after the name, whole to the next line (``Subject:`` alone, then the
    subject), and Python's parser reads an unstructured value folded there
    with a leading space. Folding at one of the value's own spaces instead
    changes nothing once unfolded; at least one word goes on the name's
    line, however long (lines may reach 998 octets)."""
    name, _, rest = folded.partition(b"\r\n")
    if not name.endswith(b":") or not rest.startswith(b" "):
        return folded
    line, _, later = rest[1:].partition(b"\r\n")
    words = line.split(b" ")
    fits = 1
    while fits < len(words) and len(name) + len(b" ".join(words[: fits + 1])) < _LONGEST_UNFOLDED:
        fits += 1
    first = name + b" " + b" ".join(words[:fits]) + b"\r\n"
    left = b" ".join(words[fits:])
    return first + (b" " + left + b"\r\n" if left else b"") + later


_POLICY = _Policy().clone(linesep="\r\n")


def _uris(value: str) -> list[str]:
    return [f"<{uri}>" for uri in re.findall(r"<([^<>\s]+)>", value)]


def uri_list_line(name: str, uris: list[str]) -> bytes:
    """A header line of ``<URI>``s as receivers read them: never encoded,
    folded only between URIs."""
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
    now = now or process_now()
    links = recipient_links(settings, recipient.subscriber_id, now)
    message_id = sent_message_id(edition, recipient.subscriber_id, settings, now, test)
    values = {
        "To": _to_value(recipient),
        "Date": format_datetime(now),
        "Message-ID": message_id,
        "List-Unsubscribe": _list_unsubscribe(links),
    }
    data = message_bytes(
        parts.subject,
        values,
        quoted_printable(fill_placeholders(parts.text, links)),
        quoted_printable(fill_placeholders(parts.html, links)),
        edition,
        settings,
        test,
    )
    sender = envelope_sender(settings, edition, recipient.subscriber_id)
    fields = message_fields(parts, recipient, links, settings, test) if with_fields else None
    signed = dkim.sign(data, dkim.signers(settings), now)
    # Quoted-printable lines never begin with a dot (worker.compose.encoding).
    return OutgoingMessage(sender, recipient.email, signed, message_id, fields, dot_free=True)


def compose_notice(
    parts: SegmentParts,
    recipient: Recipient,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    with_fields: bool = False,
    on_list: bool = False,
) -> OutgoingMessage:
    """A one-off message to one person (a confirmation, a welcome): the
    same encoding as the digest, without the list headers, since its
    reader may not be on the list. ``on_list`` (a welcome before the first
    edition): the reader is, so their links fill the placeholders and the
    list headers (List-Unsubscribe, One-Click) are added."""
    now = now or process_now()
    message_id = f"<notice.{secrets.token_hex(12)}@{settings.list_domain}>"
    headers: list[tuple[str, str]] = []
    if on_list:
        links = recipient_links(settings, recipient.subscriber_id, now)
        parts = SegmentParts(
            parts.subject,
            fill_placeholders(parts.html, links),
            fill_placeholders(parts.text, links),
        )
        headers = _list_headers(settings, _list_unsubscribe(links), test=False)
    message = EmailMessage(policy=_POLICY)
    message["From"] = settings.mail_from
    message["To"] = _to_value(recipient)
    message["Subject"] = parts.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    for name, value in headers:
        message[name] = value
    message["MIME-Version"] = "1.0"
    message.make_alternative()
    message.attach(_part("plain", quoted_printable(parts.text)))
    message.attach(_part("html", quoted_printable(parts.html)))
    fields = None
    if with_fields:
        fields = MessageFields(
            sender=settings.mail_from,
            to=_unencoded_to(recipient),
            subject=parts.subject,
            text=normalise(parts.text),
            html=normalise(parts.html),
            headers=tuple(headers),
        )
    data = dkim.sign(message.as_bytes(), dkim.signers(settings), now)
    return OutgoingMessage(envelope_sender(settings), recipient.email, data, message_id, fields)


def _to_value(recipient: Recipient) -> str:
    """The To header's value; a display name cannot break out of its header."""
    return formataddr((_display_name(recipient), recipient.email))


def _display_name(recipient: Recipient) -> str:
    """The recipient's name as a To header may show it: on one line, and
    never one that looks like an RFC 2047 encoded word (``=?…?=``), which
    the header would decode into whatever it hides (line breaks, bad UTF-8,
    another address); such a name is left out."""
    name = _UNSAFE_NAME.sub(" ", recipient.name).strip() if recipient.name else ""
    return "" if "=?" in name else name


def _unencoded_to(recipient: Recipient) -> str:
    """The To address for an email API: unencoded, since the service encodes
    headers itself."""
    return str(Address(_display_name(recipient), addr_spec=recipient.email))


def message_bytes(
    subject: str,
    values: dict[str, str],
    text: bytes,
    html: bytes,
    edition: EditionRef,
    settings: Settings,
    test: bool,
) -> bytes:
    """The serialised message with the given per-recipient header values
    (To, Date, Message-ID, List-Unsubscribe) and encoded bodies."""
    message = EmailMessage(policy=_POLICY)
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
    return ", ".join(links.unsubscribe_uris)


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


def message_fields(
    parts: SegmentParts,
    recipient: Recipient,
    links: RecipientLinks,
    settings: Settings,
    test: bool,
) -> MessageFields:
    """The message's parts, for an email API backend."""
    return MessageFields(
        sender=settings.mail_from,
        to=_unencoded_to(recipient),
        subject=_subject(parts.subject, test),
        text=fill_placeholders(normalise(parts.text), links),
        html=fill_placeholders(normalise(parts.html), links),
        headers=tuple(_list_headers(settings, _list_unsubscribe(links), test)),
    )


def _part(subtype: str, encoded: bytes) -> MIMEPart:
    part = MIMEPart(policy=_POLICY)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(encoded.decode("ascii"))
    return part


def to_line(recipient: Recipient) -> bytes:
    """The To header line: as it stands when the name is plain and it fits on
    one line, else as the policy encodes and folds it."""
    value = _to_value(recipient)
    name = recipient.name.strip() if recipient.name else ""
    if (not name or _PLAIN_NAME.match(name)) and len(value) + 4 <= _LONGEST_UNFOLDED:
        return f"To: {value}\r\n".encode("ascii")
    return _POLICY.fold_binary("To", _header("To", value))


def header_line(name: str, value: str) -> bytes:
    """The header line of an ASCII ``value``: as it stands when it fits on one
    line, else as the policy folds it."""
    if len(name) + len(value) + 2 <= _LONGEST_UNFOLDED:
        return f"{name}: {value}\r\n".encode("ascii")
    return _POLICY.fold_binary(name, _header(name, value))


def _header(name: str, value: str) -> str:
    return _POLICY.header_store_parse(name, value)[1]
