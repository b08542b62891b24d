"""Unsubscribe: the RFC 8058 one-click POST, and a page with one button."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from subscribers import consent
from subscribers.web.pages.common import blueprint, read_link, static_page
from subscribers.web.state import engine
from worker.domain.tokens import Purpose
from worker.now import process_now


@blueprint.get("/u/<token>")
def unsubscribe_page(token: str) -> str:
    """The link opened in a browser (or by a mail scanner): a button, no change."""
    read_link(Purpose.UNSUBSCRIBE, token)
    return static_page("unsubscribe.html")


@blueprint.post("/u/<token>")
def unsubscribe(token: str) -> str:
    """RFC 8058 one-click: a POST (body ``List-Unsubscribe=One-Click``, or
    the page's button) unsubscribes at once; no cookie, login or CSRF token."""
    subscriber_id, _list, _issued = read_link(Purpose.UNSUBSCRIBE, token)
    # One statement, autocommitted: one round trip to the store. Mailbox
    # providers send these in bursts after every edition. Pooled connections
    # are not pinged first (a round trip each time): one that died with a
    # database restart fails once, and the statement is run again.
    for attempt in (1, 2):
        try:
            with engine().connect().execution_options(isolation_level="AUTOCOMMIT") as store:
                consent.unsubscribe(store, subscriber_id, process_now())
            break
        except DBAPIError as error:
            if attempt == 2 or not error.connection_invalidated:
                raise
    return static_page("unsubscribed.html")
