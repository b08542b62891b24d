"""Small ready messages for the mail backends' tests."""

from __future__ import annotations

from worker.mail.base import OutgoingMessage


def message(n: int, to: str | None = None) -> OutgoingMessage:
    """Message ``n``, to ``reader{n}@example.com`` unless ``to`` is given."""
    recipient = to or f"reader{n}@example.com"
    data = (
        f"From: digest@verdicts.example\r\nTo: {recipient}\r\nSubject: n{n}\r\n"
        f"Message-ID: <m{n}@verdicts.example>\r\n\r\nHello {n}\r\n"
    ).encode()
    return OutgoingMessage("digest@verdicts.example", recipient, data, f"<m{n}@verdicts.example>")
