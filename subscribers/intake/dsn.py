"""Messages that reach the bounce mailbox, classified into intake records.

Anyone can mail the bounce mailbox: it is every message's Return-Path. So a
report acts only when it proves which message of ours it is about, by one
of the tags only we can make (:mod:`worker.compose.ids` makes and checks them):

- its envelope recipient is a VERP address with a genuine HMAC
  (``bounces+2026-W48.1234.89abcdef@…``): it is about subscriber 1234's
  message, whatever address the report names (a forwarded one, say);
- it quotes (``message/rfc822`` or ``text/rfc822-headers``) one of our
  Message-IDs with a genuine HMAC: it is about that subscriber's message,
  and the address it reports must be theirs (the intake checks it against
  the store);
- for a complaint, also the signed unsubscribe token in the quoted
  message's ``List-Unsubscribe``.

A report that proves nothing is recorded as ``other`` (its detail says why)
and changes nothing.

One message is one of:

- a **delivery report** (RFC 3464 DSN, or an MTA's own bounce format), read
  by flufl.bounce; each failed recipient is a hard or a soft bounce, by the
  report's status code where it gives one (``5.x.x`` hard, ``4.x.x`` and a
  full mailbox, ``x.2.2``, soft), else hard. A delay warning (``Action:
  delayed``: the message is still being tried) is no failure and is
  ``other``. A mailer daemon's report in which flufl.bounce finds no one
  still names the subscriber its proof names (soft, unless its status
  says hard). A proven bounce is keyed by its kind, the edition's week and
  the subscriber, so a second report about the same message is a
  duplicate;
- a **complaint** (ARF, RFC 5965: ``multipart/report;
  report-type=feedback-report``) about the subscriber its quoted message
  proves; ``Original-Rcpt-To`` and the quoted ``To`` prove nothing;
- an **unsubscribe** mailed to the ``List-Unsubscribe`` mailto address
  (subject ``unsubscribe <token>``): the signed token says who; a forged
  token is recorded as ``other`` and changes nothing;
- anything else, which is skipped (``[]``).

A report that cannot be read (a failure naming no recipient and proving
nothing, a broken structure) raises :class:`MessageError`. Classification
is pure: it reads no store and sends nothing.
"""

from __future__ import annotations

import email
import hashlib
import logging
import re
from collections.abc import Iterable
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr

from flufl.bounce import all_failures

from subscribers.intake.records import IntakeRecord, address, event_key
from subscribers.intake.reports import (
    envelope_recipients,
    failure_blocks,
    feedback_fields,
    has_delays,
    is_report,
    one_line,
    original_headers,
    recipient_statuses,
    status_of,
)
from worker.compose.ids import SentTo, subscriber_of_envelope, subscriber_of_message_id
from worker.config import Settings
from worker.domain.suppression import IntakeKind
from worker.domain.tokens import BadToken, Purpose, read_subscriber_token
from worker.errors import DigestError

SOURCE = "mailbox"
# flufl.bounce logs every detector it tries at INFO, 17 lines a message,
# which would bury a cron run's own log lines.
logging.getLogger("flufl.bounce").setLevel(logging.WARNING)
STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")
UNSUBSCRIBE_SUBJECT = re.compile(r"\s*unsubscribe\s+([A-Za-z0-9_.-]+)\s*", re.IGNORECASE)
LINK_TOKEN = re.compile(r"/u/([A-Za-z0-9_.-]+)")
DELAYED = "a delay warning: the message is still being tried, so it is no bounce"
UNPROVEN_BOUNCE = "it quotes no Message-ID of ours and came to no signed VERP address"
UNPROVEN_COMPLAINT = (
    "its quoted message holds no Message-ID, unsubscribe token or VERP address of ours"
)


class MessageError(DigestError):
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
    if is_report(msg, "feedback-report"):
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


def _ignored(kind: IntakeKind, why: str, detail: str | None) -> str:
    return f"{kind.value} ignored: {why}" + (f"; {detail}" if detail else "")


# Delivery reports


def _bounces(msg: Message, key: str, raw: str, settings: Settings) -> list[IntakeRecord]:
    # flufl.bounce's temporary failures are delay warnings (DSN "delayed",
    # or its warning detector): the message may still be delivered.
    delayed, permanent = all_failures(msg)
    failures = list(failure_blocks(msg))
    if not permanent and not failures and (delayed or has_delays(msg)):
        named = [address(a.decode("ascii", "replace")) for a in sorted(delayed)]
        return [
            _record(IntakeKind.OTHER, key, raw, email=a, detail=DELAYED) for a in named or [None]
        ]
    if not permanent and not _looks_like_bounce(msg):
        return []
    by_envelope = _envelope_proof(envelope_recipients(msg), settings)
    sent = by_envelope or _quoted_proof(original_headers(msg), settings)
    if not permanent:
        if sent is not None:
            status, diagnostic = status_of(failures[0]) if failures else ("", "")
            detail = _detail(status, diagnostic) or "a bounce flufl.bounce could not read"
            return [_proven(_kind(status, False), sent, raw, None, detail)]
        if failures:
            raise MessageError("a delivery report that names no recipient we can read")
        return []
    statuses = dict(recipient_statuses(failures))
    records = []
    for recipient in sorted(a.decode("ascii", "replace") for a in permanent):
        status, diagnostic = statuses.get(recipient.lower(), ("", ""))
        kind, detail = _kind(status, True), _detail(status, diagnostic)
        named = address(recipient)
        if sent is None:
            detail = _ignored(kind, UNPROVEN_BOUNCE, detail)
            records.append(_record(IntakeKind.OTHER, key, raw, email=named, detail=detail))
        elif by_envelope is not None:
            detail = f"{detail or kind.value}; reported for {named}"
            records.append(_proven(kind, sent, raw, None, detail))
        else:
            records.append(_proven(kind, sent, raw, named, detail))
    return records


def _proven(
    kind: IntakeKind, sent: SentTo, raw: str, email: str | None, detail: str | None
) -> IntakeRecord:
    """A bounce about a message of ours, keyed by the edition (its week) and
    not by the report, so another report about that message is a duplicate."""
    key = f"{kind.value} {sent.week}"
    return _record(kind, key, raw, email=email, subscriber_id=sent.subscriber_id, detail=detail)


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


def _looks_like_bounce(msg: Message) -> bool:
    """A delivery report, or a message from a mailer daemon; an auto-reply
    (which also goes to the envelope sender) is neither."""
    if is_report(msg, "delivery-status"):
        return True
    sender = parseaddr(str(msg.get("From", "")))[1].lower()
    return sender.partition("@")[0] in ("mailer-daemon", "postmaster")


def _envelope_proof(addresses: Iterable[str], settings: Settings) -> SentTo | None:
    """What the first signed VERP address among ``addresses`` proves."""
    for candidate in addresses:
        sent = subscriber_of_envelope(candidate, settings)
        if sent is not None:
            return sent
    return None


def _quoted_proof(original: Message | None, settings: Settings) -> SentTo | None:
    """What the quoted message's Message-ID proves, when it is one of ours."""
    if original is None:
        return None
    for value in original.get_all("Message-ID", []):
        sent = subscriber_of_message_id(str(value), settings)
        if sent is not None:
            return sent
    return None


# Complaints (ARF)


def _complaint(msg: Message, key: str, raw: str, settings: Settings) -> list[IntakeRecord]:
    report = feedback_fields(msg)
    if report is None:
        raise MessageError("a complaint report without its message/feedback-report part")
    feedback_type = one_line(report.get("Feedback-Type", "")).lower() or "abuse"
    kind = IntakeKind.COMPLAINT if feedback_type == "abuse" else IntakeKind.OTHER
    detail = f"feedback report: {feedback_type}"
    agent = one_line(report.get("User-Agent", ""))
    if agent:
        detail += f" from {agent}"
    original = original_headers(msg)
    named = [a for _, a in getaddresses(report.get_all("Original-Rcpt-To", [])) if a]
    if not named and original is not None:
        named = [a for _, a in getaddresses(original.get_all("To", [])) if a]
    named = [address(a) for a in named]
    subscriber_id = _complained_of(report, original, settings)
    if subscriber_id is not None:
        if named:
            detail += f"; reported for {', '.join(named)}"
        return [_record(kind, key, raw, subscriber_id=subscriber_id, detail=detail)]
    detail = _ignored(kind, UNPROVEN_COMPLAINT, detail)
    return [_record(IntakeKind.OTHER, key, raw, email=a, detail=detail) for a in named or [None]]


def _complained_of(report: Message, original: Message | None, settings: Settings) -> int | None:
    """The subscriber the complaint proves to be about: by the quoted
    message's unsubscribe token or Message-ID, or a VERP envelope sender."""
    envelope = [a for _, a in getaddresses(report.get_all("Original-Mail-From", [])) if a]
    if original is not None:
        subscriber_id = _token_subscriber(original, settings)
        if subscriber_id is not None:
            return subscriber_id
        envelope += [a for _, a in getaddresses(original.get_all("Return-Path", [])) if a]
    sent = _quoted_proof(original, settings) or _envelope_proof(envelope, settings)
    return sent.subscriber_id if sent else None


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
        return read_subscriber_token(settings, Purpose.UNSUBSCRIBE, token)[0]
    except BadToken:
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
