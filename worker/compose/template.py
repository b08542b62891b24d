"""The hot path of composing: one segment's message serialised once, with
sentinels where per-recipient values go; each recipient then costs a few
header lines and the quoted-printable encoding of the short lines that hold
their links (render puts each link on a line of its own, and
quoted-printable is encoded line by line). Gives the same bytes as
:func:`worker.compose.message.compose_message`.

With DKIM on, the body's canonical form is known but for those lines, so
the body hash starts from a state kept per segment
(:class:`worker.compose.dkim.BodyHash`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
from dataclasses import dataclass
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
        split = re.split(pattern, serialised)
        self._pieces: list[bytes | str] = [
            marks.get(piece, piece) if i % 2 else piece for i, piece in enumerate(split)
        ]
        if sorted(p for p in self._pieces if isinstance(p, str)) != sorted(marks.values()):
            raise ValueError("a message template must hold each per-recipient part once")
        self._bodies = {"text": _LineChunks(parts.text), "html": _LineChunks(parts.html)}
        self._date: tuple[dt.datetime | None, bytes] = (None, b"")
        # Keys are read here, once per segment: a bad one stops the sender
        # before any message, instead of failing every one.
        self._signers = dkim.signers(settings)
        self._body_order = [p for p in self._pieces if isinstance(p, str) and p in self._bodies]
        self._body_hash = None
        # The signed header fields, canonicalised once but for the reader's
        # own (named by their piece): a message's are joined, not parsed.
        self._to_sign: list[bytes | str] = []
        if self._signers:
            body_at = serialised.index(b"\r\n\r\n") + 4
            self._body_hash = dkim.BodyHash(self._fixed_body(split, body_at))
            fields = dkim.fields_to_sign(serialised[: body_at - 4])
            self._to_sign = [
                name.decode() if name.decode() in headers else dkim.relaxed_field(field)
                for name, field in fields.items()
            ]

    def _fixed_body(self, split: list[bytes], body_at: int) -> list[bytes]:
        """The message body's fixed pieces, around the lines of the text and
        HTML parts that hold links (:class:`~worker.compose.dkim.BodyHash`).
        ``split`` is the serialised template cut where ``self._pieces`` is,
        and its body begins at ``body_at``."""
        fixed: list[bytes] | None = None  # None until the body begins
        start = 0
        for serialised, piece in zip(split, self._pieces, strict=True):
            end = start + len(serialised)
            if fixed is None and end > body_at:
                if not isinstance(piece, bytes):
                    raise ValueError("a message template's body must begin with fixed text")
                fixed = [piece[body_at - start :]]
            elif fixed is not None and isinstance(piece, bytes):
                fixed[-1] += piece
            elif fixed is not None and isinstance(piece, str):
                static = self._bodies[piece].static
                fixed[-1] += static[0]
                fixed.extend(static[1:])
            start = end
        assert fixed is not None  # the sentinel bodies come after the headers
        return fixed

    @property
    def signs(self) -> bool:
        """Whether its messages carry DKIM signatures (made by :meth:`Unsigned.signed`)."""
        return self._body_hash is not None

    def compose(self, recipient: Recipient, now: dt.datetime) -> OutgoingMessage:
        """The same bytes :func:`compose_message` gives for ``recipient``."""
        return self.unsigned(recipient, now).signed()

    def unsigned(self, recipient: Recipient, now: dt.datetime) -> Unsigned:
        """``recipient``'s message before its DKIM signatures: what a sender
        composes on its own thread, leaving the signing to others."""
        links = recipient_links(self.settings, recipient.subscriber_id, now)
        message_id = sent_message_id(
            self.edition, recipient.subscriber_id, self.settings, now, self.test
        )
        date = self._date  # one read: threads may compose with the same template
        if date[0] != now:  # a worker composes a whole batch at one time
            date = self._date = (now, header_line("Date", format_datetime(now)))
        filled = {name: body.filled(links) for name, body in self._bodies.items()}
        made = {
            "To": to_line(recipient),
            "Date": date[1],
            "Message-ID": header_line("Message-ID", message_id),
            "List-Unsubscribe": uri_list_line("List-Unsubscribe", links.unsubscribe_uris),
            "text": self._bodies["text"].joined(filled["text"]),
            "html": self._bodies["html"].joined(filled["html"]),
        }
        data = b"".join(p if isinstance(p, bytes) else made[p] for p in self._pieces)
        sender = (
            envelope_sender(self.settings, self.edition, recipient.subscriber_id)
            if self.settings.verp
            else self.envelope_from
        )
        fields = (
            message_fields(self.parts, recipient, links, self.settings, self.test)
            if self.with_fields
            else None
        )
        # Headers fold with a space, and quoted-printable lines never begin
        # with a dot (worker.compose.encoding): no line of data does.
        message = OutgoingMessage(sender, recipient.email, data, message_id, fields, dot_free=True)
        if not self.signs:
            return Unsigned(message, self, [], now, {})
        fills = [line for name in self._body_order for line in filled[name]]
        return Unsigned(message, self, fills, now, made)

    @property
    def fixed_body(self) -> list[bytes]:
        """The body's fixed pieces, between which the reader's lines go:
        what a signing process keeps per segment (worker.compose.signing)."""
        return self._body_hash.fixed if self._body_hash is not None else []

    def signed_fields(self, unsigned: Unsigned) -> bytes:
        """``unsigned``'s signed header fields, canonicalised: the segment's
        own made once, the reader's made now."""
        lines = unsigned.lines
        return b"".join(
            dkim.relaxed_field(lines[piece]) if isinstance(piece, str) else piece
            for piece in self._to_sign
        )

    def signature_lines(self, unsigned: Unsigned) -> bytes:
        """``unsigned``'s DKIM-Signature lines, made here (the body hash
        from the segment's kept state)."""
        assert self._body_hash is not None
        bh = self._body_hash.digest(unsigned.fills)
        timestamp = int(unsigned.now.timestamp())
        return dkim.signature_lines(self._signers, self.signed_fields(unsigned), bh, timestamp)


@dataclass(frozen=True)
class Unsigned:
    """A composed message whose DKIM signatures are still to be made, with
    what makes them: its own header lines and the reader's lines of its
    body (for the body hash)."""

    message: OutgoingMessage
    template: MessageTemplate
    fills: list[bytes]
    now: dt.datetime
    lines: dict[str, bytes]  # what the template made for this reader, by piece: To, Date, …

    def signed(self) -> OutgoingMessage:
        """The message as it goes out: signed here when its template signs."""
        if not self.template.signs:
            return self.message
        return self.with_signatures(self.template.signature_lines(self))

    def with_signatures(self, lines: bytes) -> OutgoingMessage:
        """The message with its DKIM-Signature ``lines`` in front."""
        return dataclasses.replace(self.message, data=lines + self.message.data)


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
        self.static = static
        self._dynamic = _CUT.join(dynamic)

    def filled(self, links: RecipientLinks) -> list[bytes]:
        """The lines that hold placeholders, filled and encoded: one piece
        between each two static pieces."""
        if not self._dynamic:
            return []
        return quoted_printable_lines(fill_placeholders(self._dynamic, links)).split(_ENCODED_CUT)

    def joined(self, filled: list[bytes]) -> bytes:
        """The encoded body: the static pieces with ``filled`` between them."""
        pieces = self.static + filled
        pieces[0::2], pieces[1::2] = self.static, filled
        return b"".join(pieces)


_CUT = "\x00\n"


_ENCODED_CUT = b"=00\r\n"
