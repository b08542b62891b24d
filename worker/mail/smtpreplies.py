"""What an SMTP server's replies mean for a message: accepted, refused for
good (with whether the address is dead), refused for now, or a refusal that
is about us, the sender, rather than the recipient."""

from __future__ import annotations

import re
import smtplib

from worker.domain.suppression import SuppressionReason
from worker.mail.base import Outcome, SendResult

Reply = tuple[int, bytes]

# The recipient's address is dead: X.1.1 no such mailbox, X.1.2 no such
# domain, X.1.3 a malformed address, X.1.6 moved, X.1.10 a null MX.
_UNKNOWN_USER = re.compile(r"\b5\.1\.(1|2|3|6|10)\b")
# Refusals at RCPT that are about us, not the recipient: Postfix delays its
# sender and relay checks to RCPT by default. X.1.7 and X.1.8 name the
# sender's address; the rest are Postfix's and Exim's own words.
_ABOUT_US = re.compile(
    r"\b5\.1\.[78]\b|relay access denied|sender address rejected|authentication required",
    re.IGNORECASE,
)


def reply_result(code: int | None, text: bytes | str) -> SendResult:
    """A message's result from the reply it got (``code`` None: no reply)."""
    reply = reply_text(text)
    if code is not None and 200 <= code < 300:
        return SendResult.accepted(code, reply)
    if code is not None and code >= 500:
        dead = SuppressionReason.UNKNOWN_USER if _UNKNOWN_USER.search(reply) else None
        return SendResult(Outcome.PERMANENT, code, reply, suppress=dead)
    return SendResult(Outcome.TRANSIENT, code, reply)


def transaction_result(mail: Reply, rcpt: Reply, last: Reply) -> SendResult:
    """The result of a transaction: its first refusal, else its last reply."""
    if mail[0] != 250:
        return reply_result(*mail)
    if rcpt[0] not in (250, 251):
        return reply_result(*rcpt)
    return reply_result(*last)


def about_us(reply: tuple[int, bytes | str]) -> bool:
    """Whether a refusal speaks of our sender or our right to relay."""
    return reply[0] >= 500 and bool(_ABOUT_US.search(reply_text(reply[1])))


def reply_text(text: bytes | str) -> str:
    """A reply's words as text."""
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def describe(error: BaseException) -> str:
    """An error in one line: a refusal's code and words, else its type and message."""
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {reply_text(error.smtp_error)}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
