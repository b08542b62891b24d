"""Messages as the tests read them back: parsed as a mail client does, and
a body part's bytes."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage


def parse_message(raw: bytes) -> EmailMessage:
    """``raw`` parsed with the modern policy (headers decoded, get_body)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def part_bytes(message: EmailMessage, subtype: str) -> bytes:
    """A body part as its bytes after the transfer encoding is undone."""
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload
