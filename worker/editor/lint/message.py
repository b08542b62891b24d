"""A composed message as a mail client reads it, parsed once for every
check: its headers, its subject, the decoded text/plain and text/html
parts, and the HTML scanned by :mod:`worker.editor.lint.htmlscan`."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage

from worker.editor.lint.htmlscan import HtmlScan, scan_html


@dataclass(frozen=True)
class Mail:
    """A composed message, parsed: its subject and the decoded bodies (None when missing)."""

    message: EmailMessage
    subject: str
    html: str | None
    text: str | None
    scan: HtmlScan | None


def read_message(raw: bytes) -> Mail:
    """``raw`` parsed as a mail client would, with its HTML part scanned."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # the policy's message factory
    html, text = (_body(message, subtype) for subtype in ("html", "plain"))
    return Mail(
        message,
        str(message["Subject"] or ""),
        html,
        text,
        scan_html(html) if html is not None else None,
    )


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body((subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None
