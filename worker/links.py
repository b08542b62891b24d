"""A recipient's own links, with signed tokens (see :mod:`subscribers.tokens`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from subscribers.tokens import Purpose, make_token, subscriber_payload
from worker.config import Settings


@dataclass(frozen=True)
class RecipientLinks:
    # One URL for both the RFC 8058 one-click POST and a GET page with a button.
    unsubscribe_url: str
    unsubscribe_mailto: str
    preferences_url: str
    vote_token: str


def recipient_links(
    settings: Settings, subscriber_id: int, issued_at: dt.datetime
) -> RecipientLinks:
    """The signed links of ``subscriber_id`` on the configured list, issued
    at ``issued_at`` (the message's Date)."""
    payload = subscriber_payload(subscriber_id, settings.list_id)
    site = settings.site_url.rstrip("/")

    def token(purpose: Purpose) -> str:
        return make_token(settings, purpose, payload, issued_at=issued_at)

    unsubscribe = token(Purpose.UNSUBSCRIBE)
    return RecipientLinks(
        unsubscribe_url=f"{site}/u/{unsubscribe}",
        unsubscribe_mailto=(
            f"mailto:unsubscribe@{settings.list_domain}?subject=unsubscribe%20{unsubscribe}"
        ),
        preferences_url=f"{site}/preferences/{token(Purpose.PREFERENCES)}",
        vote_token=token(Purpose.VOTE),
    )
