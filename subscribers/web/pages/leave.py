"""Unsubscribe: the RFC 8058 one-click POST, and a page with one button."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.exc import OperationalError

from subscribers import consent
from subscribers.web import spool
from subscribers.web.busy import StoreBusy, write_now
from subscribers.web.pages.common import blueprint, message, read_link, static_page
from subscribers.web.state import engine, settings, write
from worker.domain.tokens import Purpose
from worker.errors import driver_words
from worker.now import process_now
from worker.store.outbox import recording

log = logging.getLogger("subscribers.web")


@blueprint.get("/u/<token>")
def unsubscribe_page(token: str) -> str:
    """The link opened in a browser (or by a mail scanner): a button, no change."""
    read_link(Purpose.UNSUBSCRIBE, token)
    return static_page("unsubscribe.html")


@blueprint.post("/u/<token>")
def unsubscribe(token: str) -> tuple[str, int] | str:
    """RFC 8058 one-click: a POST unsubscribes at once, whatever its body
    (``List-Unsubscribe=One-Click``, the page's button, or anything else: the
    signed token is what authorises it); no cookie, login or CSRF token.

    One statement, autocommitted: one round trip to the store, since mailbox
    providers send these in bursts after every edition (with webhooks on,
    one transaction, which writes the event too). While the store is
    busy it is tried again (:mod:`subscribers.web.busy`); if it still cannot
    be written, the request is queued on disk (:mod:`subscribers.web.spool`)
    and answered 200 all the same."""
    subscriber_id, _list, _issued = read_link(Purpose.UNSUBSCRIBE, token)
    now = process_now()
    what = "one-click unsubscribe"
    try:
        if recording(engine()):
            write(lambda session: consent.unsubscribe(session, subscriber_id, now), what)
        else:
            write_now(
                engine(),
                lambda store: consent.unsubscribe(store, subscriber_id, now),
                wait=settings().web_write_wait,
                what=what,
            )
    except (StoreBusy, OperationalError) as error:
        return _queue(subscriber_id, now, error)
    directory = settings().unsubscribe_spool_dir
    if spool.queued(directory):  # the store took a write: it can take these too
        spool.apply_queued(directory, engine())
    return static_page("unsubscribed.html")


def _queue(subscriber_id: int, now: dt.datetime, error: Exception) -> tuple[str, int] | str:
    """Keep the unsubscribe for later; the usual page once it is on disk."""
    try:
        spool.queue(settings().unsubscribe_spool_dir, subscriber_id, now)
    except OSError as failure:
        log.error(
            "one-click unsubscribe lost: the store refused it and the spool too",
            extra={"error": f"{driver_words(error)}; {failure}"},
        )
        return message("Please try again", "The site cannot take your request now.", status=503)
    log.warning("one-click unsubscribe queued", extra={"error": driver_words(error)})
    return static_page("unsubscribed.html")
