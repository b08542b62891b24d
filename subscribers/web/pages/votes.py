"""Votes from the email: Ship it / Skip it on a tool of the digest."""

from __future__ import annotations

from flask import abort, render_template, request
from sqlalchemy.orm import Session

from subscribers.votes import may_vote, record_vote
from subscribers.web.csrf import csrf_ok
from subscribers.web.pages.common import InvalidLink, blueprint, message, read_link, stale_form
from subscribers.web.state import write
from worker.domain.tokens import Purpose
from worker.domain.verdicts import Verdict
from worker.gather import gather_tool
from worker.now import process_now


@blueprint.route("/vote/<token>/<tool_slug>/<verdict>", methods=["GET", "POST"])
def vote(token: str, tool_slug: str, verdict: str) -> tuple[str, int] | str:
    """GET: the tool's verdict table and a button; POST (with the form's
    CSRF value): record the vote, replacing the subscriber's earlier one."""
    subscriber_id, _list, _issued = read_link(Purpose.VOTE, token)
    if verdict not in (Verdict.SHIP, Verdict.SKIP):
        abort(404)
    choice = Verdict(verdict)

    def page(session: Session) -> tuple[str, int] | str:
        voted = False
        if not may_vote(session, subscriber_id):
            # As for a deleted subscriber: the link says nothing more.
            raise InvalidLink("This vote link belongs to an address no longer on the list.")
        if request.method == "POST":
            if not csrf_ok():
                return stale_form("No vote was recorded.")
            voted = record_vote(session, subscriber_id, tool_slug, choice, process_now())
            session.flush()
        tool = gather_tool(session, tool_slug)
        if tool is None:
            return message("Unknown tool", "There is no tool by that name here.", status=404)
        return render_template("vote.html", tool=tool, verdict=choice, voted=voted)

    return write(page, "vote")
