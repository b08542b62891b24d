"""``POST /api/subscribe``: the subscribe form for the site's own pages to
embed, answered in JSON (docs/subscribers.md, "The subscribe API").

It takes what the form takes (email, name, categories, and the reader's
time zone) as JSON or as a form, and keeps the form's promises: one answer,
202, for every valid request whoever the address belongs to; the same
limits, counted together with the form's; the same double opt-in mail,
sent after the answer. Only a refused request gets another answer: a bad
field (400, naming it), too many requests from one client (429 with
``Retry-After``), a body too large (413) or of another type (415), a page
of an unlisted site (403; :mod:`subscribers.web.cors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import DBAPIError

from subscribers.intake.records import PayloadError
from subscribers.intake.strictjson import load_object
from subscribers.roster import (
    Candidate,
    InvalidField,
    clean_name,
    clean_timezone,
    known_categories,
    normalise_email,
    offered_choice,
)
from subscribers.web import cors
from subscribers.web.busy import StoreBusy
from subscribers.web.pages.common import FIELD_LIMIT, store_failed
from subscribers.web.pages.signup import take_request
from subscribers.web.state import sessions, settings

blueprint = Blueprint("api", __name__, url_prefix="/api")
T = TypeVar("T")

# A request is four short fields: anything larger is refused unread.
BODY_LIMIT = 16 * 1024
FIELDS = ("email", "name", "categories", "timezone")
# The form's honeypot: a field people never see and bots fill in.
HONEYPOT = "website"
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

Sent = dict[str, Any]


@blueprint.route("/subscribe", methods=["POST", "OPTIONS"], provide_automatic_options=False)
def subscribe() -> Response:
    """Record a subscribe request as the form does; answer in JSON."""
    if request.method == "OPTIONS":
        return cors.preflight()
    if cors.from_a_stranger():
        return _answer(
            403, "origin-not-allowed", "Pages of this site may not subscribe readers here."
        )
    request.max_content_length = BODY_LIMIT
    sent = _sent()
    if isinstance(sent, Response):
        return sent
    if sent.get(HONEYPOT):
        return _accepted()  # as for anyone; nothing stored
    with sessions()() as session:
        known = known_categories(session)
    candidate = _candidate(sent, known)
    if isinstance(candidate, Response):
        return candidate
    too_many = take_request(candidate)
    if too_many is not None:
        answer = _answer(
            429,
            "too-many-requests",
            "This network has sent too many subscribe requests. Please try again in an hour.",
            retry_after=too_many.retry_after,
        )
        answer.headers["Retry-After"] = str(too_many.retry_after)
        return answer
    return _accepted()


@blueprint.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return cors.with_cors(response)


@blueprint.errorhandler(413)
def _too_large(_error: Exception) -> Response:
    return _answer(413, "too-large", f"The request is larger than {BODY_LIMIT // 1024} KB.")


@blueprint.errorhandler(StoreBusy)
def _store_busy(_error: StoreBusy) -> Response:
    return _unavailable(503)  # logged where it gave up


@blueprint.errorhandler(DBAPIError)
def _store_failed(error: DBAPIError) -> Response:
    _page, status = store_failed(error)  # logged as for a page
    return _unavailable(status)


def _unavailable(status: int) -> Response:
    if status == 503:
        return _answer(503, "busy", "The site is busy for a moment. Please try again in a minute.")
    return _answer(status, "error", "Something went wrong. Please try again later.")


def _accepted() -> Response:
    """The one answer to every valid request, whoever the address belongs to."""
    text = (
        f"If the address can receive {settings().list_name}, an email is on its way to it. "
        "Open it and confirm with one click."
    )
    return _answer(202, "check-your-inbox", text)


def _answer(status: int, word: str, text: str, **more: object) -> Response:
    """A JSON answer: ``status`` as a ``word`` a script can test, ``message``
    a sentence to show the reader, and ``more``."""
    response = jsonify({"status": word, "message": text, **more})
    response.status_code = status
    return response


def _sent() -> Sent | Response:
    """The fields of the body, JSON or a form, by name; or the answer
    refusing it (415, 400)."""
    if request.mimetype == "application/json":
        try:
            return load_object(request.get_data(cache=False), "the body")
        except PayloadError as error:
            return _answer(400, "bad-request", f"{error}.")
    if request.mimetype in FORMS:
        form = request.form
        sent: Sent = {name: form[name] for name in (*FIELDS, HONEYPOT) if name in form}
        chosen = form.getlist("categories")
        if len(chosen) > 1:  # repeated, as checkboxes send them; one is a string
            sent["categories"] = chosen
        return sent
    return _answer(
        415,
        "unsupported-media-type",
        "Send JSON (application/json) or a form "
        "(application/x-www-form-urlencoded or multipart/form-data).",
    )


def _candidate(sent: Sent, known: list[str]) -> Candidate | Response:
    """The would-be subscriber ``sent`` describes, or the 400 naming every
    field that is wrong."""
    problems: dict[str, str] = {}
    for name in sorted(set(sent) - {*FIELDS, HONEYPOT})[:5]:
        problems[name[:40]] = f"is not a field this API reads ({', '.join(FIELDS)})"

    def checked(read: Callable[[], T]) -> T | None:
        try:
            return read()
        except InvalidField as error:
            problems[error.field] = error.reason
            return None

    email = checked(lambda: normalise_email(_text(sent, "email", required=True)))
    name = checked(lambda: clean_name(_text(sent, "name")))
    categories = checked(lambda: offered_choice(_names(sent.get("categories")), known))
    timezone = checked(lambda: clean_timezone(_text(sent, "timezone")))
    if problems or email is None or categories is None:
        said = "; ".join(f"{field}: {reason}" for field, reason in problems.items())
        return _answer(400, "invalid", f"{said}.", fields=problems)
    return Candidate(email, name, categories, timezone)


def _text(sent: Sent, field: str, *, required: bool = False) -> str:
    """The string ``field`` of ``sent`` ("" if absent or null)."""
    value = sent.get(field)
    if value is None or value == "":
        if required:
            raise InvalidField(field, "is required")
        return ""
    if not isinstance(value, str):
        raise InvalidField(field, "must be a string")
    if len(value) > FIELD_LIMIT:
        raise InvalidField(field, f"is {len(value)} characters long; that is far too long")
    return value


def _names(value: object) -> list[str]:
    """Category names: a list of them, or one string of them separated by
    commas (a name with a comma needs the list)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return [name.strip() for name in value if name.strip()]
    raise InvalidField(
        "categories", "must be a list of names, or one string of names separated by commas"
    )
