"""Messages that reach the bounce mailbox, classified into intake records.

One message is one of:

- a **delivery report** (RFC 3464 DSN, or an MTA's own bounce format), read
  by flufl.bounce; each failed recipient is a hard or a soft bounce, by the
  report's status code where it gives one (``5.x.x`` hard, ``4.x.x`` and a
  full mailbox, ``x.2.2``, soft) and else by flufl.bounce's own split
  (permanent or temporary). A report in which flufl.bounce finds no one but
  whose envelope recipient is a VERP address (``bounces+2026-W48.1234@…``)
  names subscriber 1234;
- a **complaint** (ARF, RFC 5965: ``multipart/report;
  report-type=feedback-report``) about the original recipient, found in
  ``Original-Rcpt-To``, else the signed token in the quoted message's
  ``List-Unsubscribe``, else a VERP ``Original-Mail-From``, else the quoted
  message's ``To``;
- an **unsubscribe** mailed to the ``List-Unsubscribe`` mailto address
  (subject ``unsubscribe <token>``): the signed token says who; a forged
  token is recorded as ``other`` and changes nothing;
- anything else, which is skipped (``[]``).

A report that cannot be read (no recipient in it, a broken structure) raises
:class:`MessageError`. Classification is pure: it reads no store and sends
nothing.
"""

from __future__ import annotations

import email
import hashlib
import logging
import re
from collections.abc import Iterable, Iterator
from email.header import decode_header, make_header
from email.iterators import typed_subpart_iterator
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr
from typing import Any

from flufl.bounce import all_failures

from subscribers.intake import IntakeRecord, address, event_key
from subscribers.tokens import BadToken, Purpose, read_token
from worker.config import Settings
from worker.store.models import IntakeKind

SOURCE = "mailbox"
# flufl.bounce logs every detector it tries at INFO, 17 lines a message,
# which would bury a cron run's own log lines.
logging.getLogger("flufl.bounce").setLevel(logging.WARNING)
STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")
UNSUBSCRIBE_SUBJECT = re.compile(r"\s*unsubscribe\s+([A-Za-z0-9_.-]+)\s*", re.IGNORECASE)
LINK_TOKEN = re.compile(r"/u/([A-Za-z0-9_.-]+)")
ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
FAILURE_ACTIONS = ("fail", "error", "delayed")


class MessageError(ValueError):
    """A report that cannot be read; the message says why."""


def classify(data: bytes, settings: Settings) -> list[IntakeRecord]:
    """The intake records of one message (its bytes as stored or fetched);
    ``[]`` for a message that is not a report or an unsubscribe."""
    try:
        return _classify(data, settings)
    except MessageError:
        raise
    except Exception as error:  # flufl.bounce's heuristics and the parser on hostile input
        raise MessageError(f"cannot be read: {type(error).__name__}: {error}") from error


def _classify(data: bytes, settings: Settings) -> list[IntakeRecord]:
    msg = email.message_from_bytes(data)
    key = message_key(msg, data)
    raw = data.decode("utf-8", "replace")
    if _is_report(msg, "feedback-report"):
        return _complaint(msg, key, raw, settings)
    unsubscribe = _unsubscribe(msg, key, raw, settings)
    if unsubscribe is not None:
        return [unsubscribe]
    return _bounces(msg, key, raw, settings)


def message_key(msg: Message, data: bytes) -> str:
    """The message's Message-ID, or a hash of its bytes when it has none."""
    found = str(msg.get("Message-ID", "")).strip().strip("<>").strip()
    return found or "sha256:" + hashlib.sha256(data).hexdigest()


def _record(
    kind: IntakeKind,
    key: str,
    raw: str,
    *,
    email: str | None = None,
    subscriber_id: int | None = None,
    detail: str | None = None,
) -> IntakeRecord:
    who = email or (f"#{subscriber_id}" if subscriber_id is not None else "-")
    return IntakeRecord(
        source=SOURCE,
        event_key=event_key(key, who),
        kind=kind,
        email=email,
        detail=detail,
        raw=raw,
        subscriber_id=subscriber_id,
    )


# Delivery reports


def _bounces(msg: Message, key: str, raw: str, settings: Settings) -> list[IntakeRecord]:
    temporary, permanent = all_failures(msg)
    statuses = dict(_recipient_statuses(msg))
    found = [(a, True) for a in sorted(permanent)] + [
        (a, False) for a in sorted(temporary - permanent)
    ]
    records = []
    for recipient, is_permanent in found:
        text = recipient.decode("ascii", "replace")
        status, diagnostic = statuses.get(text.lower(), ("", ""))
        records.append(
            _record(
                _kind(status, is_permanent),
                key,
                raw,
                email=address(text),
                detail=_detail(status, diagnostic),
            )
        )
    if records or not _looks_like_bounce(msg):
        return records
    failure = next(_failure_blocks(msg), None)
    subscriber_id = _verp_subscriber(_envelope_recipients(msg), settings)
    if subscriber_id is not None:
        status, diagnostic = _status_of(failure) if failure else ("", "")
        detail = _detail(status, diagnostic) or "a bounce flufl.bounce could not read, by VERP"
        return [_record(_kind(status, False), key, raw, subscriber_id=subscriber_id, detail=detail)]
    if failure is not None:
        raise MessageError("a delivery report that names no recipient we can read")
    return []


def _kind(status: str, permanent: bool) -> IntakeKind:
    """Hard or soft: by the status code when there is one; a full mailbox
    (x.2.2) may be emptied, so it counts as soft whatever its class."""
    code = STATUS.match(status)
    if code and code.group(1) in "45":
        soft = code.group(1) == "4" or code.group(0).endswith(".2.2")
        return IntakeKind.SOFT_BOUNCE if soft else IntakeKind.HARD_BOUNCE
    return IntakeKind.HARD_BOUNCE if permanent else IntakeKind.SOFT_BOUNCE


def _detail(status: str, diagnostic: str) -> str | None:
    return " ".join(part for part in (status, diagnostic) if part) or None


def _status_blocks(msg: Message) -> Iterator[Message]:
    for part in typed_subpart_iterator(msg, "message", "delivery-status"):
        blocks: Any = part.get_payload()
        if isinstance(blocks, list):
            yield from (b for b in blocks if isinstance(b, Message))


def _failure_blocks(msg: Message) -> Iterator[Message]:
    """The per-recipient blocks of the report that say delivery failed."""
    for block in _status_blocks(msg):
        if str(block.get("Action", "")).strip().lower().startswith(FAILURE_ACTIONS):
            yield block


def _status_of(block: Message) -> tuple[str, str]:
    return _one_line(block.get("Status", "")), _one_line(block.get("Diagnostic-Code", ""))


def _recipient_statuses(msg: Message) -> Iterator[tuple[str, tuple[str, str]]]:
    """(address, (status, diagnostic)) for each failed recipient block,
    under both its original and its final recipient."""
    for block in _failure_blocks(msg):
        for header in ("Original-Recipient", "Final-Recipient"):
            value = str(block.get(header, ""))
            recipient = value.partition(";")[2].strip().strip("<>").strip().lower()
            if recipient:
                yield recipient, _status_of(block)


def _looks_like_bounce(msg: Message) -> bool:
    """A delivery report, or a message from a mailer daemon; an auto-reply
    (which also goes to the envelope sender) is neither."""
    if _is_report(msg, "delivery-status"):
        return True
    sender = parseaddr(str(msg.get("From", "")))[1].lower()
    return sender.partition("@")[0] in ("mailer-daemon", "postmaster")


def _is_report(msg: Message, report_type: str) -> bool:
    return (
        msg.get_content_type() == "multipart/report"
        and str(msg.get_param("report-type", "")).lower() == report_type
    )


def _envelope_recipients(msg: Message) -> list[str]:
    return [a for h in ENVELOPE_HEADERS for _, a in getaddresses(msg.get_all(h, [])) if a]


def _verp_subscriber(addresses: Iterable[str], settings: Settings) -> int | None:
    """The subscriber id a VERP envelope address carries, when VERP is on."""
    if not (settings.bounce_address and settings.verp):
        return None
    local, _, domain = parseaddr(settings.bounce_address)[1].rpartition("@")
    pattern = re.compile(
        rf"{re.escape(local)}\+\d{{4}}-W\d{{2}}\.(\d+)@{re.escape(domain)}", re.IGNORECASE
    )
    for candidate in addresses:
        found = pattern.fullmatch(candidate.strip().strip("<>"))
        if found:
            return int(found.group(1))
    return None


# Complaints (ARF)


def _complaint(msg: Message, key: str, raw: str, settings: Settings) -> list[IntakeRecord]:
    report = _feedback_fields(msg)
    if report is None:
        raise MessageError("a complaint report without its message/feedback-report part")
    feedback_type = _one_line(report.get("Feedback-Type", "")).lower() or "abuse"
    kind = IntakeKind.COMPLAINT if feedback_type == "abuse" else IntakeKind.OTHER
    detail = f"feedback report: {feedback_type}"
    agent = _one_line(report.get("User-Agent", ""))
    if agent:
        detail += f" from {agent}"
    recipients = [a for _, a in getaddresses(report.get_all("Original-Rcpt-To", [])) if a]
    if recipients:
        return [_record(kind, key, raw, email=address(a), detail=detail) for a in recipients]
    original = _original_headers(msg)
    subscriber_id = _token_subscriber(original, settings) if original else None
    if subscriber_id is None:
        envelope = [a for _, a in getaddresses(report.get_all("Original-Mail-From", [])) if a]
        if original is not None:
            envelope += [a for _, a in getaddresses(original.get_all("Return-Path", [])) if a]
        subscriber_id = _verp_subscriber(envelope, settings)
    if subscriber_id is not None:
        return [_record(kind, key, raw, subscriber_id=subscriber_id, detail=detail)]
    quoted_to = [a for _, a in getaddresses(original.get_all("To", [])) if a] if original else []
    if quoted_to:
        return [_record(kind, key, raw, email=address(a), detail=detail) for a in quoted_to]
    raise MessageError("a complaint report that names no recipient")


def _feedback_fields(msg: Message) -> Message | None:
    for part in typed_subpart_iterator(msg, "message", "feedback-report"):
        return _headers_of(part)
    return None


def _original_headers(msg: Message) -> Message | None:
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


def _token_subscriber(original: Message, settings: Settings) -> int | None:
    """The subscriber a quoted message's own unsubscribe link names, when
    its token is genuine and for this list."""
    for value in original.get_all("List-Unsubscribe", []):
        for token in LINK_TOKEN.findall(str(value)):
            subscriber_id = _read_unsubscribe_token(token, settings)
            if subscriber_id is not None:
                return subscriber_id
    return None


def _read_unsubscribe_token(token: str, settings: Settings) -> int | None:
    try:
        payload = read_token(settings, Purpose.UNSUBSCRIBE, token)
    except BadToken:
        return None
    if (
        isinstance(payload, list)
        and len(payload) == 2
        and isinstance(payload[0], int)
        and payload[1] == settings.list_id
    ):
        return payload[0]
    return None


# Unsubscribes by email


def _unsubscribe(msg: Message, key: str, raw: str, settings: Settings) -> IntakeRecord | None:
    subject = str(make_header(decode_header(str(msg.get("Subject", "")))))
    found = UNSUBSCRIBE_SUBJECT.fullmatch(subject)
    if not found:
        return None
    sender = parseaddr(str(msg.get("From", "")))[1]
    subscriber_id = _read_unsubscribe_token(found.group(1), settings)
    if subscriber_id is None:
        return _record(
            IntakeKind.OTHER,
            key,
            raw,
            email=address(sender) if sender else None,
            detail="mailed unsubscribe with a token that is not valid (forged, altered, "
            "expired or for another list): ignored",
        )
    return _record(
        IntakeKind.UNSUBSCRIBE,
        key,
        raw,
        subscriber_id=subscriber_id,
        detail=f"unsubscribe mailed from {sender or 'an unnamed sender'}",
    )


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
