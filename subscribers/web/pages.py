"""The pages a subscriber opens: subscribe, confirm, unsubscribe,
preferences and votes.

Every link in an email carries a signed token (:mod:`subscribers.tokens`);
a forged, altered, expired or other-purpose token changes nothing and gets a
page that says so. Links that change something show a page with a button on
GET and act on POST, so that mail scanners that follow links change nothing;
the one exception is the RFC 8058 one-click POST, which acts at once.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from subscribers import consent, ratelimit
from subscribers.roster import (
    Candidate,
    InvalidField,
    clean_categories,
    clean_name,
    normalise_email,
)
from subscribers.tokens import MAX_AGE, BadToken, Purpose, read_token_issued
from subscribers.votes import record_vote
from subscribers.web.csrf import FIELD as CSRF_FIELD
from subscribers.web.csrf import csrf_ok, csrf_token
from subscribers.web.state import sessions, settings
from worker.compose import Recipient
from worker.editions import latest_segment
from worker.errors import DigestError
from worker.gather import gather_tool
from worker.mail import Outcome, SendResult
from worker.notices import already_notice, confirm_notice, send_notice, send_welcome
from worker.render import Renderer
from worker.store.models import (
    Subscriber,
    Tool,
    Verdict,
    segment_categories,
)

log = logging.getLogger("subscribers.web")
blueprint = Blueprint("pages", __name__)

PAUSE_CHOICES = (0, 2, 4, 8)  # weeks
# Longer than any valid field: past this, a value is refused before it is
# validated (a 10,000-character "name" is an error, not work).
FIELD_LIMIT = 400
# Pending subscriptions go when their confirmation link expires.
CONFIRM_WINDOW = dt.timedelta(seconds=MAX_AGE[Purpose.CONFIRM])


class InvalidLink(Exception):
    """A link's token is not valid: forged, altered, expired, or made for
    another purpose or another list."""


@blueprint.app_context_processor
def _page_context() -> dict[str, Any]:
    return {
        "list_name": settings().list_name,
        "postal_address": settings().postal_address,
        "csrf_token": csrf_token,
        "csrf_field": CSRF_FIELD,
    }


@blueprint.after_app_request
def _headers(response: Response) -> Response:
    # Tokens travel in URLs: no Referer may carry them to another site, and
    # no shared cache may keep a page made for one subscriber.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    if request.endpoint and request.endpoint.startswith("pages.") and request.view_args:
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.app_errorhandler(InvalidLink)
def _invalid_link(error: InvalidLink) -> tuple[str, int]:
    return _message(
        "This link is not valid",
        str(error),
        "Nothing was changed. Use the newest email from us, or ask for a new link "
        "by subscribing again.",
        status=400,
    )


@blueprint.app_errorhandler(413)
def _too_large(_error: Exception) -> tuple[str, int]:
    return _message("Too much data", "The form sent more than this site accepts.", status=413)


# Subscribe ------------------------------------------------------------------


@blueprint.get("/")
def home() -> str:
    with sessions()() as session:
        return render_template(
            "subscribe.html", categories=_categories(session), form={}, chosen=[]
        )


@blueprint.post("/subscribe")
def subscribe() -> tuple[str, int] | str:
    form = request.form
    if form.get("website"):
        # The honeypot: a field people never see and bots fill in. Answer as
        # for anyone, store nothing.
        return _check_inbox()
    with sessions()() as session:
        known = _categories(session)
    try:
        email = normalise_email(_field("email"))
        name = clean_name(_field("name") or None)
        chosen = form.getlist("category")
        for category in chosen:
            if category not in known:
                raise InvalidField("categories", f"{category[:40]!r} is not one of our categories")
        categories = clean_categories(chosen)
    except InvalidField as error:
        page = render_template(
            "subscribe.html",
            categories=known,
            form=form,
            chosen=form.getlist("category"),
            error=str(error),
        )
        return page, 400
    config = settings()
    now = _now()
    with sessions().begin() as session:
        client = f"client:{request.remote_addr or 'unknown'}"
        if not ratelimit.allow(
            session,
            client,
            limit=config.subscribe_limit_per_client,
            window=dt.timedelta(hours=1),
            now=now,
        ):
            session.rollback()
            return _message(
                "Too many requests",
                "This network has sent too many subscribe requests. Please try again in an hour.",
                status=429,
            )
        if not ratelimit.allow(
            session,
            f"address:{email}",
            limit=config.subscribe_limit_per_address,
            window=dt.timedelta(days=1),
            now=now,
        ):
            # Enough mail went to this address today: the same answer as
            # always (no enumeration), nothing more sent.
            return _check_inbox()
        consent.expire_pending(session, now, CONFIRM_WINDOW)
        ratelimit.prune(session, now)
        outcome, subscriber = consent.subscribe(session, Candidate(email, name, categories))
        recipient = Recipient(subscriber.id, subscriber.email, subscriber.name)
    if outcome == consent.SubscribeOutcome.CONFIRM:
        notice = confirm_notice(config, recipient.subscriber_id, recipient.email)
    elif outcome == consent.SubscribeOutcome.ALREADY:
        notice = already_notice(config, recipient.subscriber_id, recipient.email)
    else:
        return _check_inbox()
    if not _mailed(lambda: send_notice(config, _renderer(), notice, recipient)):
        return _message(
            "Please try again in a few minutes",
            "We could not send the confirmation email just now.",
            status=503,
        )
    return _check_inbox()


def _mailed(send: Callable[[], SendResult]) -> bool:
    """Whether ``send`` got its message accepted; a mail backend that is
    misconfigured or down is logged (the backend said why) and counts as not."""
    try:
        return send().outcome == Outcome.ACCEPTED
    except DigestError as error:
        log.error("mail not sent: %s", error)
        return False


def _check_inbox() -> str:
    return render_template("check_inbox.html")


# Confirm --------------------------------------------------------------------


@blueprint.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> tuple[str, int] | str:
    subscriber_id, email, issued_at = _payload(Purpose.CONFIRM, token)
    if request.method == "GET":
        return render_template("confirm.html", email=email)
    config = settings()
    with sessions().begin() as session:
        confirmed = consent.confirm(session, subscriber_id, email, issued_at, _now())
        subscriber = session.get(Subscriber, subscriber_id)
        if confirmed and subscriber is not None:
            recipient = Recipient(subscriber.id, subscriber.email, subscriber.name)
            latest = latest_segment(session, config.list_id, subscriber.id, subscriber.categories)
    if not confirmed:
        return _message(
            "This subscription cannot be confirmed",
            "The address was removed from the list, or mail to it could not be delivered.",
            status=410,
        )
    # Mailed once the confirmation is stored: a slow or failing mail server
    # neither holds the transaction open nor undoes the confirmation.
    welcomed = latest is not None and _mailed(lambda: send_welcome(config, recipient, *latest))
    return render_template("confirmed.html", welcomed=welcomed)


# Unsubscribe ----------------------------------------------------------------


@blueprint.get("/u/<token>")
def unsubscribe_page(token: str) -> str:
    _payload(Purpose.UNSUBSCRIBE, token)
    return render_template("unsubscribe.html")


@blueprint.post("/u/<token>")
def unsubscribe(token: str) -> str:
    """RFC 8058 one-click: a POST (body ``List-Unsubscribe=One-Click``, or
    the page's button) unsubscribes at once; no cookie, login or CSRF token."""
    subscriber_id, _list, _issued = _payload(Purpose.UNSUBSCRIBE, token)
    with sessions().begin() as session:
        consent.unsubscribe(session, subscriber_id, _now())
    return render_template("unsubscribed.html", preferences=None)


# Preferences ----------------------------------------------------------------


@blueprint.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str) -> tuple[str, int] | str:
    subscriber_id, _list, _issued = _payload(Purpose.PREFERENCES, token)
    saved = False
    error = None
    with sessions().begin() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            raise InvalidLink("This preferences link belongs to an address no longer on the list.")
        known = _categories(session)
        if request.method == "POST":
            if not csrf_ok():
                return _message(
                    "Please try again",
                    "The form was out of date (or sent from another site). Nothing was changed.",
                    status=400,
                )
            try:
                _save_preferences(subscriber, known)
                saved = True
            except InvalidField as field_error:
                error = str(field_error)
        page = render_template(
            "preferences.html",
            subscriber=subscriber,
            chosen=set(segment_categories(subscriber.categories)),
            categories=known,
            pause_choices=PAUSE_CHOICES,
            paused=subscriber.paused_until is not None and subscriber.paused_until > _now(),
            saved=saved,
            error=error,
        )
    return (page, 400) if error else page


def _save_preferences(subscriber: Subscriber, known: list[str]) -> None:
    chosen = request.form.getlist("category")
    for category in chosen:
        if category not in known:
            raise InvalidField("categories", f"{category[:40]!r} is not one of our categories")
    everything = request.form.get("all") == "1"
    categories = "" if everything else clean_categories(chosen)
    pause = request.form.get("pause", "keep")
    if pause != "keep" and pause not in {str(weeks) for weeks in PAUSE_CHOICES}:
        raise InvalidField("pause", "choose one of the offered pauses")
    subscriber.categories = categories
    if pause != "keep":
        weeks = int(pause)
        subscriber.paused_until = _now() + dt.timedelta(weeks=weeks) if weeks else None


# Votes ----------------------------------------------------------------------


@blueprint.route("/vote/<token>/<tool_slug>/<verdict>", methods=["GET", "POST"])
def vote(token: str, tool_slug: str, verdict: str) -> tuple[str, int] | str:
    subscriber_id, _list, _issued = _payload(Purpose.VOTE, token)
    if verdict not in (Verdict.SHIP, Verdict.SKIP):
        abort(404)
    choice = Verdict(verdict)
    voted = False
    with sessions().begin() as session:
        if session.get(Subscriber, subscriber_id) is None:
            raise InvalidLink("This vote link belongs to an address no longer on the list.")
        if request.method == "POST":
            if not csrf_ok():
                return _message(
                    "Please try again",
                    "The form was out of date (or sent from another site). No vote was recorded.",
                    status=400,
                )
            voted = record_vote(session, subscriber_id, tool_slug, choice, _now())
            session.flush()
        tool = gather_tool(session, tool_slug)
        if tool is None:
            return _message("Unknown tool", "There is no tool by that name here.", status=404)
        return render_template("vote.html", tool=tool, verdict=choice, voted=voted)


# Helpers --------------------------------------------------------------------


def _payload(purpose: Purpose, token: str) -> tuple[int, str, dt.datetime]:
    """The subscriber id, list id (or, to confirm, the address) a token of
    ``purpose`` names, and when it was issued."""
    if len(token) > FIELD_LIMIT:
        raise InvalidLink(f"This {purpose.value} link is not valid.")
    try:
        payload, issued_at = read_token_issued(settings(), purpose, token)
    except BadToken as error:
        raise InvalidLink(f"{str(error)[0].upper()}{str(error)[1:]}.") from None
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not isinstance(payload[0], int)
        or not isinstance(payload[1], str)
    ):
        raise InvalidLink(f"This {purpose.value} link is not valid.")
    if purpose != Purpose.CONFIRM and payload[1] != settings().list_id:
        raise InvalidLink(f"This {purpose.value} link is for another list.")
    return payload[0], payload[1], issued_at


def _field(name: str) -> str:
    value = request.form.get(name, "")
    if len(value) > FIELD_LIMIT:
        raise InvalidField(name, f"is {len(value)} characters long; that is far too long")
    return value


def _categories(session: Session) -> list[str]:
    """The categories a subscriber can choose: those of the tools we cover."""
    return list(
        session.scalars(
            select(Tool.category)
            .where(Tool.category.is_not(None))
            .distinct()
            .order_by(Tool.category)
        )
    )


def _message(
    title: str, text: str, detail: str | None = None, *, status: int = 200
) -> tuple[str, int]:
    return render_template("message.html", title=title, text=text, detail=detail), status


def _renderer() -> Renderer:
    return _renderer_for(settings().templates_dir)


@functools.cache
def _renderer_for(templates_dir: Path) -> Renderer:
    return Renderer(templates_dir)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
