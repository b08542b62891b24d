"""A recipient's own links, with signed tokens (see :mod:`worker.domain.tokens`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from worker.config import Settings
from worker.domain import placeholders
from worker.domain.tokens import Purpose, make_tokens, subscriber_payload


@dataclass(frozen=True)
class RecipientLinks:
    # One URL for both the RFC 8058 one-click POST and a GET page with a button.
    unsubscribe_url: str
    unsubscribe_mailto: str
    preferences_url: str
    vote_token: str

    @property
    def unsubscribe_uris(self) -> list[str]:
        """The List-Unsubscribe header's URIs, https first (RFC 8058), each in <>."""
        return [f"<{self.unsubscribe_url}>", f"<{self.unsubscribe_mailto}>"]


def recipient_links(
    settings: Settings, subscriber_id: int, issued_at: dt.datetime
) -> RecipientLinks:
    """The signed links of ``subscriber_id`` on the configured list, issued
    at ``issued_at`` (the message's Date)."""
    site = settings.site_url.rstrip("/")
    unsubscribe, preferences, vote = make_tokens(
        settings,
        (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES, Purpose.VOTE),
        subscriber_payload(subscriber_id, settings.list_id),
        issued_at=issued_at,
    )
    return RecipientLinks(
        unsubscribe_url=f"{site}/u/{unsubscribe}",
        unsubscribe_mailto=(
            f"mailto:unsubscribe@{settings.list_domain}?subject=unsubscribe%20{unsubscribe}"
        ),
        preferences_url=f"{site}/preferences/{preferences}",
        vote_token=vote,
    )


def fill_placeholders(rendered: str, links: RecipientLinks) -> str:
    """``rendered`` with the recipient's links where the placeholders stand.

    Tokens are URL-safe base64 and dots, so they need no escaping in HTML.
    """
    return (
        rendered.replace(placeholders.UNSUBSCRIBE_URL, links.unsubscribe_url)
        .replace(placeholders.PREFERENCES_URL, links.preferences_url)
        .replace(placeholders.VOTE_TOKEN, links.vote_token)
    )
