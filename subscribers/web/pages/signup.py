"""Double opt-in: the subscribe form, and the confirmation link it mails."""

from __future__ import annotations

import datetime as dt

from flask import render_template, request
from sqlalchemy.orm import Session, sessionmaker

from subscribers import consent
from subscribers.roster import (
    Candidate,
    InvalidField,
    clean_name,
    known_categories,
    normalise_email,
)
from subscribers.web import busy
from subscribers.web.outbox import send_later
from subscribers.web.pages.common import (
    Answer,
    blueprint,
    chosen_categories,
    form_field,
    message,
    over_mail_limits,
    read_link,
    renderer,
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


@blueprint.get("/")
def home() -> str:
    with sessions()() as session:
        categories = known_categories(session)
    return render_template("subscribe.html", categories=categories, form={}, chosen=[])


@blueprint.post("/subscribe")
def subscribe() -> tuple[str, int] | str:
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
    except InvalidField as error:
        page = render_template(
            "subscribe.html",
            categories=known,
            form=request.form,
            chosen=request.form.getlist("category"),
            error=str(error),
        )
        return page, 400
    config = settings()
    now = process_now()
    candidate = Candidate(email, name, categories)
    refused, outcome, recipient = write(
        lambda session: _record(session, config, candidate, now), "subscribe"
    )
    if refused is not None:
        return refused
    if outcome is not None and recipient is not None:
        _mail_outcome(config, outcome, recipient)
    return _check_inbox()


def _record(
    session: Session, config: Settings, candidate: Candidate, now: dt.datetime
) -> tuple[Answer | None, consent.SubscribeOutcome | None, Recipient | None]:
    """Record a subscribe request within the limits: the answer if it is
    refused, else what it led to and whom to mail."""
    refused = over_mail_limits(session, config, candidate.email, now, _check_inbox)
    if refused is not None:
        return refused, None, None
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
