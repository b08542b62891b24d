"""The hot path of composing: one segment's message serialised once, with
sentinels where per-recipient values go; each recipient then costs a few
header lines and the quoted-printable encoding of the short lines that hold
their links (render puts each link on a line of its own, and
quoted-printable is encoded line by line). Gives the same bytes as
:func:`worker.compose.message.compose_message`.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable
from email.utils import format_datetime

from worker.compose import dkim
from worker.compose.encoding import normalise, quoted_printable, quoted_printable_lines
from worker.compose.ids import EditionRef, envelope_sender, sent_message_id
from worker.compose.links import RecipientLinks, fill_placeholders, recipient_links
from worker.compose.message import (
    Recipient,
    SegmentParts,
    header_line,
    message_bytes,
    message_fields,
    to_line,
    uri_list_line,
)
from worker.config import Settings
from worker.domain import placeholders
from worker.mail.base import OutgoingMessage


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
        serialised = message_bytes(
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
            for i, piece in enumerate(re.split(pattern, serialised))
        ]
        if sorted(p for p in self._pieces if isinstance(p, str)) != sorted(marks.values()):
            raise ValueError("a message template must hold each per-recipient part once")
        self._text = _LineChunks(parts.text)
        self._html = _LineChunks(parts.html)
        self._date: tuple[dt.datetime | None, bytes] = (None, b"")

    def compose(self, recipient: Recipient, now: dt.datetime) -> OutgoingMessage:
        """The same bytes :func:`compose_message` gives for ``recipient``."""
        links = recipient_links(self.settings, recipient.subscriber_id, now)
        message_id = sent_message_id(
            self.edition, recipient.subscriber_id, self.settings, now, self.test
        )
        if self._date[0] != now:  # a worker composes a whole batch at one time
            self._date = (now, header_line("Date", format_datetime(now)))
        per_recipient: dict[str, Callable[[], bytes]] = {
            "To": lambda: to_line(recipient),
            "Date": lambda: self._date[1],
            "Message-ID": lambda: header_line("Message-ID", message_id),
            "List-Unsubscribe": lambda: uri_list_line("List-Unsubscribe", links.unsubscribe_uris),
            "text": lambda: self._text.encode(links),
            "html": lambda: self._html.encode(links),
        }
        data = b"".join(
            piece if isinstance(piece, bytes) else per_recipient[piece]() for piece in self._pieces
        )
        sender = (
            envelope_sender(self.settings, self.edition, recipient.subscriber_id)
            if self.settings.verp
            else self.envelope_from
        )
        signed = dkim.sign(data, self.settings)
        fields = (
            message_fields(self.parts, recipient, links, self.settings, self.test)
            if self.with_fields
            else None
        )
        return OutgoingMessage(sender, recipient.email, signed, message_id, fields)


class _LineChunks:
    """A body as runs of static lines, encoded once, around the lines that
    hold placeholders, encoded per recipient.

    The placeholder lines are filled and encoded together, as one string
    with a NUL line between each two (bodies hold no NUL: see
    :func:`~worker.compose.encoding.normalise`), and cut apart again where the encoded NUL lines
    stand: one fill and one encoding per body instead of one per link.
    """

    def __init__(self, body: str) -> None:
        static: list[bytes] = []
        dynamic: list[str] = []
        run: list[str] = []
        for line in normalise(body).splitlines(keepends=True):
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
        filled = quoted_printable_lines(fill_placeholders(self._dynamic, links)).split(_ENCODED_CUT)
        pieces = self._static + filled
        pieces[0::2], pieces[1::2] = self._static, filled
        return b"".join(pieces)


_CUT = "\x00\n"


_ENCODED_CUT = b"=00\r\n"
