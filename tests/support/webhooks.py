"""What the webhook tests share: a secret, settings that send to a receiver
on loopback, sessions that record events, and the events as stored."""

from __future__ import annotations

import dataclasses

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from worker.config import Settings
from worker.store import session_factory
from worker.store.models import WebhookEvent
from worker.store.outbox import with_events

# whsec_ and the base64 of a 32-byte key, as `digest webhooks secret` prints one.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw+P/lSxT9Va0="


def hook_settings(settings: Settings, *urls: str, timeout: float = 5.0) -> Settings:
    """``settings`` sending webhooks to ``urls`` (a receiver on loopback,
    which WEBHOOK_ALLOW_PRIVATE lets the worker reach)."""
    return dataclasses.replace(
        settings,
        webhook_urls=urls,
        webhook_secret=SECRET,
        webhook_allow_private=("127.0.0.1",),
        webhook_timeout=timeout,
    )


def recording(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``engine`` whose changes record webhook events, as the
    CLI's and the web app's do while WEBHOOK_URLS is set."""
    return session_factory(with_events(engine, True))


def stored_events(sessions: sessionmaker[Session]) -> list[tuple[int, str, str, int | None]]:
    """The stored events: id, webhook-id, type, subscriber id, in order."""
    with sessions() as session:
        rows = session.execute(
            select(
                WebhookEvent.id,
                WebhookEvent.message_id,
                WebhookEvent.type,
                WebhookEvent.subscriber_id,
            ).order_by(WebhookEvent.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]
