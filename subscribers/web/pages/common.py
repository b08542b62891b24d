"""What the subscriber pages share: the blueprint, its headers and error
pages, and reading the signed token of a link."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Response, current_app, render_template, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from subscribers import ratelimit
from subscribers.roster import InvalidField, offered_choice
from subscribers.web.busy import StoreBusy, is_busy
from subscribers.web.csrf import FIELD as CSRF_FIELD
from subscribers.web.csrf import csrf_token
from subscribers.web.state import settings
from worker.config import Settings
from worker.domain.tokens import BadToken, Purpose, read_subscriber_token
from worker.errors import DigestError, driver_words
from worker.render.renderer import Renderer

log = logging.getLogger("subscribers.web")
blueprint = Blueprint("pages", __name__)

# A page and its HTTP status (and headers), or a page (200).
Answer = tuple[str, int] | tuple[str, int, dict[str, str]] | str

# The windows of the limits on the forms that mail.
CLIENT_WINDOW = dt.timedelta(hours=1)
ADDRESS_WINDOW = dt.timedelta(days=1)

# Longer than any valid field or token: past this, a value is refused before
# it is parsed (a 10,000-character "name" is an error, not work).
FIELD_LIMIT = 400


class InvalidLink(DigestError):
    """A link's token is not valid: forged, altered, expired, or made for
    another purpose or another list."""


# What a page may load: its own styles and images, no script (the subscribe
# form adds its one script by hash), and forms posted to this site only.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


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
    response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
    if request.endpoint and request.endpoint.startswith("pages.") and request.view_args:
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.after_app_request
def _pin_redirect(response: Response) -> Response:
    # A redirect's Location is built from the request's Host header, which
    # anyone can set: "Host: evil.example" on /archive//x answered 308 to
    # http://evil.example/archive/x, for a cache that ignores Host to keep.
    # The app's only site is SITE_URL. A counted link's redirect is the
    # exception: it goes to the destination its token signs.
    if response.location and request.endpoint != "redirects.follow":
        response.location = on_site(response.location, settings().site_url)
    return response


def on_site(location: str, site_url: str) -> str:
    """``location`` with the scheme and host of ``site_url``."""
    site = urlsplit(site_url)
    target = urlsplit(location)
    return urlunsplit((site.scheme, site.netloc, target.path, target.query, target.fragment))


@blueprint.app_errorhandler(InvalidLink)
def _invalid_link(error: InvalidLink) -> tuple[str, int]:
    return message(
        "This link is not valid",
        str(error),
        "Nothing was changed. Use the newest email from us, or ask for a new link "
        "by subscribing again.",
        status=400,
    )


@blueprint.app_errorhandler(DBAPIError)
def store_failed(error: DBAPIError) -> tuple[str, int]:
    """The page (logged as it must be) for a store error: 503 for one that
    passes, 500 for others."""
    if error.connection_invalidated:
        # A pooled connection the database dropped (a restart); the pool
        # has been renewed, so the next request works.
        return message("Please try again", "The site lost its database for a moment.", status=503)
    if is_busy(error):
        log.warning("store busy", extra={"error": driver_words(error)})
        return _busy()
    log.error("store error: %s", driver_words(error))
    return message("Something went wrong", "Please try again later.", status=500)


@blueprint.app_errorhandler(StoreBusy)
def _store_busy(_error: StoreBusy) -> tuple[str, int]:
    return _busy()  # logged where it gave up


def _busy() -> tuple[str, int]:
    return message(
        "Please try again",
        "The site is busy for a moment. Nothing was changed; please try again in a minute.",
        status=503,
    )


@blueprint.app_errorhandler(413)
def _too_large(_error: Exception) -> tuple[str, int]:
    return message("Too much data", "The form sent more than this site accepts.", status=413)


def read_link(purpose: Purpose, token: str) -> tuple[int, str, dt.datetime]:
    """The subscriber id and list id (or, to confirm, the address) that a
    token of ``purpose`` names, and when it was issued; raises
    :class:`InvalidLink`."""
    if len(token) > FIELD_LIMIT:
        raise InvalidLink(f"This {purpose.value} link is not valid.")
    try:
        return read_subscriber_token(settings(), purpose, token)
    except BadToken as error:
        raise InvalidLink(f"{str(error)[0].upper()}{str(error)[1:]}.") from None


def form_field(name: str) -> str:
    """A submitted form field, refused (``InvalidField``) when far too long."""
    value = request.form.get(name, "")
    if len(value) > FIELD_LIMIT:
        raise InvalidField(name, f"is {len(value)} characters long; that is far too long")
    return value


def chosen_categories(known: list[str]) -> str:
    """The segment key of the categories ticked in the form, each one of
    ``known``; raises ``InvalidField``."""
    return offered_choice(request.form.getlist("category"), known)


@dataclass(frozen=True)
class MailLimit:
    """Where a request of a form that mails (subscribe, ask for a vote
    link) stands to the rate limits."""

    # Over the client's hourly limit: refuse it (429), and say after how many seconds.
    retry_after: int = 0
    # The address was mailed enough today: answer as usual, mail nothing,
    # so that nobody learns more and nothing more is sent.
    mailed_enough: bool = False


def mail_limit(session: Session, config: Settings, email: str, now: dt.datetime) -> MailLimit:
    """The request counted against the limits of the forms that mail (both
    count against the same ones), and old hits pruned; where it stands."""
    client = f"client:{request.remote_addr or 'unknown'}"
    hourly = config.subscribe_limit_per_client
    if not ratelimit.allow(session, client, limit=hourly, window=CLIENT_WINDOW, now=now):
        wait = ratelimit.retry_after(session, client, window=CLIENT_WINDOW, now=now)
        return MailLimit(retry_after=max(1, math.ceil(wait.total_seconds())))
    daily = config.subscribe_limit_per_address
    address = ratelimit.address_key(email)
    if not ratelimit.allow(session, address, limit=daily, window=ADDRESS_WINDOW, now=now):
        return MailLimit(mailed_enough=True)
    ratelimit.prune(session, now)
    return MailLimit()


def too_many(retry_after: int) -> tuple[str, int, dict[str, str]]:
    """The page of a form's request refused for its client's hourly limit."""
    page, status = message(
        "Too many requests",
        "This network has sent too many requests. Please try again in an hour.",
        status=429,
    )
    return page, status, {"Retry-After": str(retry_after)}


def message(
    title: str, text: str, detail: str | None = None, *, status: int = 200
) -> tuple[str, int]:
    """A page that says one thing, with its HTTP status."""
    return render_template("message.html", title=title, text=text, detail=detail), status


def stale_form(outcome: str) -> tuple[str, int]:
    """The page for a form whose CSRF value does not check out (out of date,
    or sent from another site); ``outcome`` says what was not done."""
    text = f"The form was out of date (or sent from another site). {outcome}"
    return message("Please try again", text, status=400)


def static_page(template: str) -> str:
    """``template`` rendered once per app and reused: for pages with nothing
    that changes from one request to the next."""
    rendered: dict[str, str] = current_app.extensions.setdefault(_STATIC_PAGES, {})
    if template not in rendered:
        rendered[template] = render_template(template)
    return rendered[template]


_STATIC_PAGES = "verdict_digest.static_pages"


def renderer() -> Renderer:
    """The email renderer for the configured templates (built once)."""
    return _renderer_for(settings().templates_dir)


@functools.cache
def _renderer_for(templates_dir: Path) -> Renderer:
    return Renderer(templates_dir)
