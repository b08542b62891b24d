"""``/r/<token>?to=<destination>``: a counted link of an edition, followed.

A genuine link (:func:`worker.domain.clicks.read_click`) is counted, one
upsert on an autocommit connection (:mod:`subscribers.clicks`), and
answered 302 to its destination. Anything else is a 400 page and never a
redirect: a token that does not verify, a destination other than the one
signed, one that is not http(s). Nothing here knows a reader: no cookie is
read or set, and nothing about the request is logged with the token.

A HEAD is answered like a GET but not counted: link checkers and mail
scanners ask with HEAD, readers' browsers never do. The reader is sent on
even when the count cannot be written (the store busy past its wait): a
lost count is logged; a reader kept from the page would be worse.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, redirect, request
from sqlalchemy.exc import OperationalError

from subscribers.clicks import count_click
from subscribers.web.busy import StoreBusy, write_now
from subscribers.web.pages.common import FIELD_LIMIT, message
from subscribers.web.state import engine, settings
from worker.domain.clicks import DESTINATION, read_click
from worker.domain.tokens import BadToken
from worker.errors import driver_words
from worker.now import process_now

log = logging.getLogger("subscribers.web")
blueprint = Blueprint("redirects", __name__)

# Longer than any destination the store keeps (a launch's link: 2048).
DESTINATION_LIMIT = 4096
# The longest a reader waits on a busy store for their click to be counted
# (WEB_WRITE_WAIT if shorter): a count is worth less than their time.
COUNT_WAIT = 1.0


@blueprint.get("/r/<token>")
def follow(token: str) -> Response | tuple[str, int]:
    """Count the click on a genuine link and send the reader on (302)."""
    destination = request.args.get(DESTINATION, "")
    try:
        if len(token) > FIELD_LIMIT or len(destination) > DESTINATION_LIMIT:
            raise BadToken("this link is not valid")
        click = read_click(settings(), token, destination)
    except BadToken as error:
        return message(
            "This link is not valid",
            f"{str(error)[0].upper()}{str(error)[1:]}.",
            "It was changed after we sent it, or we never sent it. "
            "Use the link in the email as it came, or find the page in our archive.",
            status=400,
        )
    if request.method == "GET":
        _count(click.week, click.item)
    answer = redirect(click.destination, code=302)
    answer.headers["Cache-Control"] = "no-store"  # every click reaches the count
    return answer


def _count(week: str, item: str) -> None:
    """One click counted, unless the store cannot take it in time."""
    config = settings()
    now = process_now()
    try:
        write_now(
            engine(),
            lambda store: count_click(store, config.list_id, week, item, now),
            wait=min(config.web_write_wait, COUNT_WAIT),
            what="click count",
        )
    except (StoreBusy, OperationalError) as error:
        log.warning(
            "click not counted", extra={"edition": week, "item": item, "error": driver_words(error)}
        )
