"""Votes: Ship it / Skip it on a tool, from the email (a signed link names
the voter) or from the site (the voter's address gets such a link)."""

from __future__ import annotations

import datetime as dt

from flask import abort, render_template, request
from sqlalchemy.orm import Session

from subscribers.roster import InvalidField, normalise_email
from subscribers.votes import may_vote, record_vote, voter
from subscribers.web.csrf import csrf_ok
from subscribers.web.outbox import send_later
from subscribers.web.pages.common import (
    FIELD_LIMIT,
    Answer,
    InvalidLink,
    blueprint,
    form_field,
    mail_limit,
    message,
    read_link,
    renderer,
    stale_form,
    too_many,
)
from subscribers.web.state import sessions, settings, write
from worker.compose.message import Recipient
from worker.deliver.notices import send_notice, vote_notice
from worker.domain.digest import ToolColumn
from worker.domain.tokens import Purpose
from worker.domain.verdicts import Verdict
from worker.gather import gather_tool
from worker.now import process_now


@blueprint.route("/vote/<token>/<tool_slug>/<verdict>", methods=["GET", "POST"])
def vote(token: str, tool_slug: str, verdict: str) -> tuple[str, int] | str:
    """GET: the tool's verdict table and a button; POST (with the form's
    CSRF value): record the vote, replacing the subscriber's earlier one."""
    subscriber_id, _list, _issued = read_link(Purpose.VOTE, token)
    choice = _verdict(verdict)

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
            return _unknown_tool()
        return render_template("vote.html", tool=tool, verdict=choice, voted=voted)

    return write(page, "vote")


@blueprint.route("/vote/<tool_slug>/<verdict>", methods=["GET", "POST"])
def ask_to_vote(tool_slug: str, verdict: str) -> Answer:
    """A vote from the site, where no link names the voter. GET: the tool's
    verdict table and a form for the address that gets the digest; POST:
    mail that address, if it may vote, its own vote link (whose page
    records the vote). The answer is the same whoever the address is."""
    choice = _verdict(verdict)
    if len(tool_slug) > FIELD_LIMIT:
        return _unknown_tool()
    with sessions()() as session:
        tool = gather_tool(session, tool_slug)
    if tool is None:
        return _unknown_tool()
    if request.method == "GET":
        return _ask_page(tool, choice)
    if request.form.get("website"):  # the honeypot, as on the subscribe form
        return _link_mailed()
    try:
        email = normalise_email(form_field("email"))
    except InvalidField as error:
        return _ask_page(tool, choice, error=str(error), status=400)
    config = settings()
    now = process_now()
    refused, recipient = write(lambda session: _voter_within_limits(session, email, now), "vote")
    if refused is not None:
        return refused
    if recipient is not None:
        notice = vote_notice(config, recipient.subscriber_id, tool.name, tool.slug, choice)
        emails = renderer()
        send_later(lambda: send_notice(config, emails, notice, recipient), "vote link email")
    return _link_mailed()


def _voter_within_limits(
    session: Session, email: str, now: dt.datetime
) -> tuple[Answer | None, Recipient | None]:
    """The answer if the request is over a limit, else whom to mail (None:
    the address may not vote)."""
    limit = mail_limit(session, settings(), email, now)
    if limit.retry_after:
        return too_many(limit.retry_after), None
    if limit.mailed_enough:
        return _link_mailed(), None
    found = voter(session, email)
    return None, None if found is None else Recipient(found.id, found.email, found.name)


def _verdict(verdict: str) -> Verdict:
    if verdict not in (Verdict.SHIP, Verdict.SKIP):
        abort(404)
    return Verdict(verdict)


def _ask_page(tool: ToolColumn, verdict: Verdict, *, error: str = "", status: int = 200) -> Answer:
    page = render_template(
        "vote_ask.html", tool=tool, verdict=verdict, error=error, email=request.form.get("email")
    )
    return page, status


def _link_mailed() -> str:
    return render_template("vote_mailed.html")


def _unknown_tool() -> tuple[str, int]:
    return message("Unknown tool", "There is no tool by that name here.", status=404)
