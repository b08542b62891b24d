"""The hot path: one segment's message serialised once gives, for every
recipient, the bytes a full compose gives."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from tests.support.digests import big_digest
from tests.support.messages import ADA, EDITION, NOW
from worker.compose.message import Recipient, SegmentParts, compose_message
from worker.compose.template import MessageTemplate
from worker.config import PROJECT_ROOT, Settings
from worker.domain import placeholders
from worker.render.renderer import Renderer

NAMES = [
    None,
    "Ada Lovelace",
    "Zoë Ångström",
    'Quote "Me", Jr.',
    "Eve\r\nBcc: all@example.com",
    "O'Brien (team lead)",
    "A very long display name that will certainly need folding in the To header line",
    "李小龍",
    "",
]


@pytest.mark.parametrize("test_send", [False, True])
def test_the_hot_path_gives_the_bytes_of_a_full_compose(
    settings: Settings, test_send: bool
) -> None:
    rendered = Renderer(PROJECT_ROOT / "templates").render(big_digest(5, 30))
    parts = SegmentParts(rendered.subject, rendered.html, rendered.text)
    template = MessageTemplate(parts, EDITION, settings, test=test_send, with_fields=True)
    for index, name in enumerate(NAMES):
        recipient = Recipient(subscriber_id=1000 + index, email=f"r{index}@example.com", name=name)
        slow = compose_message(
            parts, recipient, EDITION, settings, now=NOW, test=test_send, with_fields=True
        )
        fast = template.compose(recipient, NOW)
        assert fast == slow, name


def test_the_hot_path_copes_with_awkward_bodies(settings: Settings) -> None:
    """Two links on a line, a link on the first and on the last line (with
    no newline after it), long lines that quoted-printable must break, and a
    stray NUL, which neither path lets through."""
    vote = f"https://verdicts.example/vote/{placeholders.VOTE_TOKEN}"
    html = (
        f'<a href="{placeholders.UNSUBSCRIBE_URL}">u</a> <a href="{placeholders.PREFERENCES_URL}">'
        f"p</a>\n<p>{'x' * 200}\x00</p>\n\n{vote}/a/ship {vote}/a/skip {'y=' * 60}"
    )
    text = f"{vote}/a/ship\r\n\r\n=3D {'é' * 100}\n{placeholders.UNSUBSCRIBE_URL}"
    parts = SegmentParts("Awkward", html, text)
    fast = MessageTemplate(parts, EDITION, settings).compose(ADA, NOW)
    assert fast == compose_message(parts, ADA, EDITION, settings, now=NOW)
    parsed = email.message_from_bytes(fast.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(("html",))
    assert body is not None and "\x00" not in body.get_content()
    assert "%%" not in fast.data.decode("ascii")
