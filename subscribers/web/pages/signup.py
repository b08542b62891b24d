"""Double opt-in: the subscribe form, and the confirmation link it mails."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass

from flask import Response, make_response, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session, sessionmaker

from subscribers import consent
from subscribers.roster import (
    Candidate,
    InvalidField,
    clean_name,
    clean_timezone,
    known_categories,
    normalise_email,
)
from subscribers.web import busy
from subscribers.web.outbox import send_later
from subscribers.web.pages.common import (
    PAGE_POLICY,
    blueprint,
    chosen_categories,
    form_field,
    mail_limit,
    message,
    read_link,
    renderer,
    too_many,
)
from subscribers.web.state import sessions, settings, write
from worker.compose.message import Recipient
from worker.config import Settings
from worker.deliver.notices import already_notice, confirm_notice, send_notice, send_welcome
from worker.deliver.welcome import LatestSegment, latest_segment, record_delivered
from worker.deliver.welcome_copy import current_welcome
from worker.domain.tokens import CONFIRM_WINDOW, Purpose
from worker.now import process_now
from worker.render.renderer import Renderer
from worker.store.models import Subscriber

Welcome = tuple[Recipient, LatestSegment | None]


# Fills the form's hidden time zone with the browser's. The page's policy
# lets this one script run (by its hash); without it, or without
# JavaScript, the field stays empty and the list's zone applies.
ZONE_SCRIPT = (
    'try{document.getElementById("timezone").value='
    'Intl.DateTimeFormat().resolvedOptions().timeZone||""}catch(e){}'
)
_ZONE_POLICY = (
    f"{PAGE_POLICY}; script-src "
    f"'sha256-{base64.b64encode(hashlib.sha256(ZONE_SCRIPT.encode()).digest()).decode()}'"
)


@dataclass(frozen=True)
class TooMany:
    """A subscribe request refused: its client sent too many this hour.
    Nothing was stored or sent."""

    retry_after: int  # seconds until the client's next request is taken


@blueprint.get("/")
def home() -> Response:
    with sessions()() as session:
        categories = known_categories(session)
    return _subscribe_page(categories)


@blueprint.post("/subscribe")
def subscribe() -> ResponseReturnValue:
    """Record a subscribe request and mail what it calls for. The answer is
    the same whoever the address belongs to; only a refused request (a bad
    field, too many requests from one client) gets another."""
    if request.form.get("website"):
        # The honeypot: a field people never see and bots fill in. Answer as
        # for anyone, store nothing.
        return _check_inbox()
    with sessions()() as session:
        known = known_categories(session)
    try:
        email = normalise_email(form_field("email"))
        name = clean_name(form_field("name") or None)
        categories = chosen_categories(known)
        timezone = _browser_zone(form_field("timezone"))
    except InvalidField as error:
        return _subscribe_page(known, error=str(error))
    refused = take_request(Candidate(email, name, categories, timezone))
    if refused is not None:
        return too_many(refused.retry_after)
    return _check_inbox()


def _subscribe_page(known: list[str], *, error: str | None = None) -> Response:
    """The subscribe form (a 400 showing ``error`` with what was sent, if
    given), with the policy that lets its time zone script run."""
    page = render_template(
        "subscribe.html",
        categories=known,
        form=request.form if error else {},
        chosen=request.form.getlist("category") if error else [],
        error=error,
        zone_script=ZONE_SCRIPT,
    )
    response = make_response(page, 400 if error else 200)
    response.headers["Content-Security-Policy"] = _ZONE_POLICY
    return response


def _browser_zone(sent: str) -> str | None:
    """The zone the form's script took from the browser, if the IANA
    database has it. The reader never saw the field and cannot correct it,
    so a zone this machine does not know (Chrome's ``Etc/Unknown``, one
    newer than its tzdata) is dropped, not refused: the list's applies."""
    try:
        return clean_timezone(sent)
    except InvalidField:
        return None


def take_request(candidate: Candidate) -> TooMany | None:
    """Record a subscribe request within the limits, and mail what it calls
    for after the answer; :class:`TooMany` if its client is over its limit.
    Every other request gets None, whoever the address belongs to (new,
    pending, confirmed, suppressed, mailed enough today), so that its caller
    answers them alike."""
    config = settings()
    now = process_now()
    too_many, outcome, recipient = write(
        lambda session: _record(session, config, candidate, now), "subscribe"
    )
    if outcome is not None and recipient is not None:
        _mail_outcome(config, outcome, recipient)
    return too_many


def _record(
    session: Session, config: Settings, candidate: Candidate, now: dt.datetime
) -> tuple[TooMany | None, consent.SubscribeOutcome | None, Recipient | None]:
    """Record a subscribe request within the limits: whether its client is
    over its limit, else what it led to and whom to mail."""
    limit = mail_limit(session, config, candidate.email, now)
    if limit.retry_after:
        return TooMany(limit.retry_after), None, None
    if limit.mailed_enough:
        return None, None, None  # the usual answer, no mail
    consent.expire_pending(session, now, CONFIRM_WINDOW)
    outcome, subscriber = consent.subscribe(session, candidate, now)
    if subscriber is None:
        return None, outcome, None
    return None, outcome, Recipient(subscriber.id, subscriber.email, subscriber.name)


def _mail_outcome(
    config: Settings, outcome: consent.SubscribeOutcome, recipient: Recipient
) -> None:
    """Mail, after the answer, what a subscribe request calls for: the
    confirmation, or a note that the address is subscribed already."""
    emails = renderer()
    if outcome == consent.SubscribeOutcome.CONFIRM:
        notice = confirm_notice(config, recipient.subscriber_id, recipient.email)
        send_later(lambda: send_notice(config, emails, notice, recipient), "confirmation email")
    elif outcome == consent.SubscribeOutcome.ALREADY:
        notice = already_notice(config, recipient.subscriber_id, recipient.email)
        send_later(
            lambda: send_notice(config, emails, notice, recipient), "already-subscribed email"
        )


def _check_inbox() -> str:
    return render_template("check_inbox.html")


@blueprint.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> tuple[str, int] | str:
    """GET: a page with one button; POST: confirm, then mail the welcome
    (the welcome copy above the latest edition) if this click is the one
    that confirmed."""
    subscriber_id, email, issued_at = read_link(Purpose.CONFIRM, token)
    if request.method == "GET":
        return render_template("confirm.html", email=email)
    config = settings()

    def confirm_now(session: Session) -> tuple[consent.ConfirmOutcome, Welcome | None]:
        outcome = consent.confirm(session, subscriber_id, email, issued_at, process_now())
        subscriber = session.get(Subscriber, subscriber_id)
        if outcome != consent.ConfirmOutcome.CONFIRMED or subscriber is None:
            return outcome, None
        recipient = Recipient(subscriber.id, subscriber.email, subscriber.name)
        latest = latest_segment(session, config.list_id, subscriber.id, subscriber.categories)
        return outcome, (recipient, latest)

    outcome, welcome = write(confirm_now, "confirm")
    if outcome == consent.ConfirmOutcome.REFUSED:
        return message(
            "This subscription cannot be confirmed",
            "The address was removed from the list, unsubscribed after this link was sent, "
            "or mail to it could not be delivered.",
            status=410,
        )
    if welcome is not None:
        recipient, latest = welcome
        store, emails = sessions(), renderer()
        send_later(lambda: _welcome(config, store, emails, recipient, latest), "welcome email")
    return render_template(
        "confirmed.html",
        welcomed=welcome is not None,
        with_edition=welcome is not None and welcome[1] is not None,
    )


def _welcome(
    config: Settings,
    store: sessionmaker[Session],
    emails: Renderer,
    recipient: Recipient,
    latest: LatestSegment | None,
) -> None:
    """Mail the welcome (the welcome copy in use now) and, once it is
    accepted, record the edition it carries as the subscriber's delivery of
    it so that no send mails it again."""
    with store() as session:
        copy = current_welcome(session, config).copy
    send_welcome(config, emails, recipient, copy, latest)
    if latest is None:
        return
    busy.write(
        store,
        lambda session: record_delivered(session, latest, recipient.subscriber_id),
        wait=config.web_write_wait,
        what="welcome delivery",
    )
