"""Preferences: the name, which categories come, the reader's time zone,
and a pause of a few weeks."""

from __future__ import annotations

import datetime as dt

from flask import render_template, request
from sqlalchemy.orm import Session

from subscribers.roster import InvalidField, clean_name, clean_timezone, known_categories
from subscribers.web.csrf import csrf_ok
from subscribers.web.pages.common import (
    InvalidLink,
    blueprint,
    chosen_categories,
    form_field,
    read_link,
    stale_form,
)
from subscribers.web.state import settings, write
from worker.domain.segments import segment_categories
from worker.domain.tokens import Purpose
from worker.domain.zones import zone_groups
from worker.now import process_now
from worker.store.models import Subscriber

PAUSE_CHOICES = (0, 2, 4, 8)  # weeks


@blueprint.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str) -> tuple[str, int] | str:
    """GET: the form; POST (with the form's CSRF value): save it."""
    subscriber_id, _list, _issued = read_link(Purpose.PREFERENCES, token)
    return write(lambda session: _page(session, subscriber_id), "preferences")


def _page(session: Session, subscriber_id: int) -> tuple[str, int] | str:
    """The page, and on POST what the form changed."""
    saved = False
    error = None
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise InvalidLink("This preferences link belongs to an address no longer on the list.")
    known = known_categories(session)
    if request.method == "POST":
        if not csrf_ok():
            return stale_form("Nothing was changed.")
        try:
            _save(subscriber, known)
            saved = True
        except InvalidField as field_error:
            error = str(field_error)
    paused_until = subscriber.paused_until
    paused = paused_until is not None and paused_until > process_now()
    local = paused_until.astimezone(settings().timezone) if paused_until else None
    page = render_template(
        "preferences.html",
        subscriber=subscriber,
        chosen=set(segment_categories(subscriber.categories)),
        categories=known,
        pause_choices=PAUSE_CHOICES,
        zone_groups=_zone_groups(subscriber.timezone),
        list_zone=settings().digest_timezone,
        paused=paused,
        paused_until=f"{local.day} {local:%B %Y}" if local else "",
        saved=saved,
        error=error,
    )
    return (page, 400) if error else page


def _zone_groups(chosen: str | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The zones the select offers by region, and a chosen zone the list
    does not offer by name (``US/Pacific``, from an import) in a group of its own."""
    groups = zone_groups()
    if chosen is None or any(chosen in zones for _, zones in groups):
        return groups
    return (*groups, ("Other", (chosen,)))


def _save(subscriber: Subscriber, known: list[str]) -> None:
    """Apply the submitted form to ``subscriber``; nothing changes when a
    field is invalid."""
    categories = "" if request.form.get("all") == "1" else chosen_categories(known)
    pause = request.form.get("pause", "keep")
    if pause != "keep" and pause not in {str(weeks) for weeks in PAUSE_CHOICES}:
        raise InvalidField("pause", "choose one of the offered pauses")
    # Blank is the list's zone (DIGEST_TIMEZONE), kept as none so that it
    # follows the setting.
    timezone = clean_timezone(form_field("timezone")) if "timezone" in request.form else None
    if "name" in request.form:
        # The owner's own say (the subscribe form cannot change a stored name).
        subscriber.name = clean_name(form_field("name") or None)
    if "timezone" in request.form:
        subscriber.timezone = timezone
    subscriber.categories = categories
    if pause != "keep":
        weeks = int(pause)
        subscriber.paused_until = process_now() + dt.timedelta(weeks=weeks) if weeks else None
