"""A comparison's page, ``/compare/<slug>``: where its title in the digest
links when neither the content file (``url:``) nor ``COMPARE_URL`` says
otherwise. It shows what the digest shows (the verdict table, a column per
tool), every reviewer's quote, and Ship it / Skip it buttons that lead to
the site's vote page (:func:`subscribers.web.pages.votes.ask_to_vote`):
a public page names no voter, so the vote is made with a link mailed to a
subscriber."""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from subscribers.web.state import sessions, settings
from worker.domain.digest import ComparisonBlock
from worker.domain.urls import is_web_url
from worker.domain.verdicts import SEAT_ORDER
from worker.gather import gather_comparison

blueprint = Blueprint("compare", __name__)

# Its community figures are live: a reader who has just voted sees the vote.
CACHE = "no-cache"

# Longer than any slug the content file accepts: refused before a query.
SLUG_LIMIT = 200


@blueprint.get("/compare/<slug>")
def comparison(slug: str) -> Response:
    """The comparison ``slug``; 404 for an unknown, hidden or unpublished one."""
    found = None
    if len(slug) <= SLUG_LIMIT:
        with sessions()() as session:
            found = gather_comparison(session, slug, settings())
    if found is None:
        page = render_template(
            "message.html",
            title="No such comparison",
            text="There is no published comparison at this address.",
        )
        return Response(page, status=404, mimetype="text/html")
    body = render_template("compare.html", block=found, seats=_seats(found), web_url=is_web_url)
    response = Response(body, mimetype="text/html")
    response.headers["Cache-Control"] = CACHE
    return response


def _seats(block: ComparisonBlock) -> list[str]:
    """The panel's seats that review any of its tools, in panel order."""
    said = {verdict.seat for tool in block.tools for verdict in tool.figures.split}
    return [seat for seat in SEAT_ORDER if seat in said]
