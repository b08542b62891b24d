"""The parts of a report, read as they are written: the per-recipient
blocks of a delivery report (RFC 3464 ``message/delivery-status``), the
fields of a complaint (RFC 5965 ``message/feedback-report``), the quoted
message's headers, and the addresses a message was delivered to. Pure
reading: what these parts prove is for :mod:`subscribers.intake.dsn`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from email.iterators import typed_subpart_iterator
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses
from typing import Any

ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
FAILURE_ACTIONS = ("fail", "error")  # opensmtpd writes "error"


def is_report(msg: Message, report_type: str) -> bool:
    """Whether ``msg`` is a ``multipart/report`` of ``report_type``."""
    return (
        msg.get_content_type() == "multipart/report"
        and str(msg.get_param("report-type", "")).lower() == report_type
    )


def _status_blocks(msg: Message) -> Iterator[Message]:
    for part in typed_subpart_iterator(msg, "message", "delivery-status"):
        blocks: Any = part.get_payload()
        if isinstance(blocks, list):
            yield from (b for b in blocks if isinstance(b, Message))


def _action(block: Message) -> str:
    return str(block.get("Action", "")).strip().lower()


def failure_blocks(msg: Message) -> Iterator[Message]:
    """The per-recipient blocks of the report that say delivery failed."""
    return (b for b in _status_blocks(msg) if _action(b).startswith(FAILURE_ACTIONS))


def has_delays(msg: Message) -> bool:
    """Whether a per-recipient block says delivery is delayed (still tried)."""
    return any(_action(b).startswith("delayed") for b in _status_blocks(msg))


def status_of(block: Message) -> tuple[str, str]:
    """A block's Status and Diagnostic-Code, each on one line."""
    return one_line(block.get("Status", "")), one_line(block.get("Diagnostic-Code", ""))


def recipient_statuses(failures: Iterable[Message]) -> Iterator[tuple[str, tuple[str, str]]]:
    """(address, (status, diagnostic)) for each failed recipient block,
    under both its original and its final recipient."""
    for block in failures:
        for header in ("Original-Recipient", "Final-Recipient"):
            value = str(block.get(header, ""))
            recipient = value.partition(";")[2].strip().strip("<>").strip().lower()
            if recipient:
                yield recipient, status_of(block)


def envelope_recipients(msg: Message) -> list[str]:
    """The addresses the headers say ``msg`` was delivered to, first the
    receiving server's own (Delivered-To), ``To`` last."""
    return [a for h in ENVELOPE_HEADERS for _, a in getaddresses(msg.get_all(h, [])) if a]


def feedback_fields(msg: Message) -> Message | None:
    """The fields of a complaint's ``message/feedback-report`` part."""
    for part in typed_subpart_iterator(msg, "message", "feedback-report"):
        return _headers_of(part)
    return None


def original_headers(msg: Message) -> Message | None:
    """The headers of the message a report quotes (``message/rfc822`` or
    ``text/rfc822-headers``), None when it quotes none."""
    for subtype in ("rfc822", "rfc822-headers"):
        for maintype in ("message", "text"):
            for part in typed_subpart_iterator(msg, maintype, subtype):
                return _headers_of(part)
    return None


def _headers_of(part: Message) -> Message:
    """The header block a ``message/*`` or ``text/rfc822-headers`` part holds:
    the email package parses some of them into messages, others not."""
    payload: Any = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    text = part.get_payload(decode=True)
    if isinstance(text, bytes):
        return HeaderParser().parsestr(text.decode("utf-8", "replace"))
    return HeaderParser().parsestr(str(payload))


def one_line(value: object) -> str:
    """A header value with its folding and runs of white space made single spaces."""
    return " ".join(str(value).split())
