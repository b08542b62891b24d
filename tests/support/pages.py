"""What the subscriber pages' tests share: the mail the app sent and its
links, the store's subscribers, signed tokens, and a form's CSRF value."""

from __future__ import annotations

import re
from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web.outbox import wait_for_mail
from tests.support.mailparts import parse_message
from worker.config import Settings
from worker.domain.tokens import Purpose, make_token, subscriber_payload
from worker.mail.memory import MemoryBackend
from worker.store.models import Subscriber

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def sent() -> list[EmailMessage]:
    """What the app mailed so far (it mails after answering)."""
    wait_for_mail()
    return [parse_message(outgoing.data) for outgoing in MemoryBackend.outbox]


def body(message: EmailMessage, kind: str = "plain") -> str:
    """The decoded text of the ``kind`` part."""
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link(message: EmailMessage, path: str) -> str:
    """The path of the first link to ``/path/…`` in the text part."""
    found = re.search(rf"https://verdicts\.example(/{path}/[\w.-]+)", body(message))
    assert found, body(message)
    return found[1]


def subscriber(sessions: sessionmaker[Session], address: str) -> Subscriber | None:
    """The subscriber of ``address``, if any."""
    with sessions() as session:
        return session.scalar(select(Subscriber).where(Subscriber.email == address))


def token(settings: Settings, purpose: Purpose, subscriber_id: int) -> str:
    """A genuine link token of ``purpose`` for ``subscriber_id``."""
    return make_token(settings, purpose, subscriber_payload(subscriber_id, settings.list_id))


def count(sessions: sessionmaker[Session], model: type) -> int:
    """How many rows of ``model`` the store holds."""
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def csrf_of(page: bytes) -> str:
    """The CSRF value of the form on ``page``."""
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found[1].decode()
