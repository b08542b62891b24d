"""The subscribe API (subscribers/web/api.py) and its CORS (cors.py), through
Flask's test client on both stores: one answer for every valid request
whoever the address belongs to, as the form; JSON and form bodies; the
refusals (400 naming each field, 413, 415, 429 with Retry-After, 403 for a
page of an unlisted site); preflights and answers for listed and unlisted
origins."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from subscribers.web import create_app
from tests.support.pages import count, link, sent, subscriber
from tests.support.sample import load_content
from tests.support.subscribers import add_confirmed
from worker.config import Settings
from worker.domain.states import SubscriberStatus
from worker.domain.suppression import SuppressionReason
from worker.store.models import RateHit, Subscriber, Suppression

SITE = "https://verdicts.example"
LISTED = "https://compare.example"
STRANGER = "https://evil.example"


@pytest.fixture
def app(settings: Settings, sessions: sessionmaker[Session]) -> Flask:
    """The app with the sample content; one other site's pages may call it."""
    load_content(sessions)
    app = create_app(replace(settings, allowed_origins=(LISTED,)), sessions=sessions)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def api(client: FlaskClient, body: dict[str, Any], **options: Any) -> TestResponse:
    """POST ``body`` as JSON to the API, from the listed site's page."""
    headers = {"Origin": LISTED, **options.pop("headers", {})}
    return client.post("/api/subscribe", json=body, headers=headers, **options)


def test_a_new_reader_is_stored_pending_with_their_zone_and_mailed_the_confirmation(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    answer = api(
        client,
        {
            "email": "New.Reader@Example.com",
            "name": "New Reader",
            "categories": ["Developer Tools", "Design"],
            "timezone": "Asia/Singapore",
        },
    )
    assert answer.status_code == 202
    assert answer.json == {
        "status": "check-your-inbox",
        "message": "If the address can receive Weekly AI Tool Verdicts, an email is on its "
        "way to it. Open it and confirm with one click.",
    }
    assert answer.headers["Cache-Control"] == "no-store"
    stored = subscriber(sessions, "new.reader@example.com")
    assert stored is not None and stored.status == SubscriberStatus.PENDING
    assert (stored.name, stored.categories, stored.timezone, stored.source) == (
        "New Reader",
        "Design|Developer Tools",
        "Asia/Singapore",
        "web",
    )
    (confirmation,) = sent()
    assert confirmation["To"] == "New Reader <new.reader@example.com>"
    assert "Confirm" in confirmation["Subject"]
    assert client.post(link(confirmation, "confirm")).status_code == 200
    assert subscriber(sessions, "new.reader@example.com").status == "confirmed"  # type: ignore[union-attr]


def test_every_valid_request_gets_the_same_answer_whoever_the_address_belongs_to(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    add_confirmed(sessions, "known@example.com", "Design")
    with sessions.begin() as session:
        session.add_all(
            [
                Subscriber(email="pending@example.com", status=SubscriberStatus.PENDING),
                Subscriber(email="left@example.com", status=SubscriberStatus.UNSUBSCRIBED),
                Subscriber(email="bounced@example.com", status=SubscriberStatus.BOUNCED),
                Suppression(email="gone@example.com", reason=SuppressionReason.HARD_BOUNCE),
            ]
        )
    addresses = [
        "fresh@example.com",
        "known@example.com",
        "pending@example.com",
        "left@example.com",
        "bounced@example.com",
        "gone@example.com",
    ]
    answers = [api(client, {"email": a, "timezone": "Europe/Paris"}) for a in addresses]
    # Mailed enough today (3 a day): the same answer, and no more mail.
    answers += [api(client, {"email": "fresh@example.com"}) for _ in range(3)]
    # The honeypot: the same answer, nothing stored.
    answers.append(api(client, {"email": "bot@example.com", "website": "http://spam.example"}))
    seen = {(a.status_code, a.data, a.headers["Content-Type"]) for a in answers}
    assert len(seen) == 1 and next(iter(seen))[0] == 202

    recipients = [m["To"] for m in sent()]
    assert recipients.count("fresh@example.com") == 3  # the daily limit
    assert recipients.count("pending@example.com") == recipients.count("left@example.com") == 1
    assert recipients.count("known@example.com") == 1  # "already subscribed"
    assert not {"bounced@example.com", "gone@example.com", "bot@example.com"} & {*recipients}
    # Nothing a stranger sends changes a stored subscriber.
    known = subscriber(sessions, "known@example.com")
    assert known is not None and (known.categories, known.timezone) == ("Design", None)
    assert subscriber(sessions, "bot@example.com") is None
    assert subscriber(sessions, "gone@example.com") is None


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (
            "application/x-www-form-urlencoded",
            "email=form%40example.com&name=Form&categories=Design,Developer+Tools"
            "&timezone=asia%2Fsingapore",
        ),
        (
            "application/x-www-form-urlencoded",
            "email=form%40example.com&name=Form&categories=Design&categories=Developer+Tools"
            "&timezone=Asia/Singapore&csrf_token=ignored",
        ),
        (
            "application/json; charset=utf-8",
            '{"email": "form@example.com", "name": "Form", '
            '"categories": "Design, Developer Tools", "timezone": "Asia/Singapore"}',
        ),
    ],
)
def test_json_and_form_bodies_say_the_same(
    client: FlaskClient, sessions: sessionmaker[Session], content_type: str, body: str
) -> None:
    answer = client.post(
        "/api/subscribe", data=body, content_type=content_type, headers={"Origin": LISTED}
    )
    assert answer.status_code == 202, answer.json
    stored = subscriber(sessions, "form@example.com")
    assert stored is not None
    assert (stored.name, stored.categories, stored.timezone) == (
        "Form",
        "Design|Developer Tools",
        "Asia/Singapore",
    )


def test_a_multipart_form_is_read_too(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    # What fetch() sends for a FormData body.
    answer = client.post(
        "/api/subscribe",
        data={"email": "multi@example.com", "timezone": "Pacific/Kiritimati"},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 202
    stored = subscriber(sessions, "multi@example.com")
    assert stored is not None and stored.timezone == "Pacific/Kiritimati"


def test_an_empty_zone_is_the_lists(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    assert api(client, {"email": "a@example.com", "timezone": ""}).status_code == 202
    assert api(client, {"email": "b@example.com", "timezone": None}).status_code == 202
    assert api(client, {"email": "c@example.com"}).status_code == 202
    for address in ("a@example.com", "b@example.com", "c@example.com"):
        assert subscriber(sessions, address).timezone is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"email": "is required"}),
        ({"email": "not an address"}, {"email": "'not an address' is not a valid address"}),
        ({"email": "x" * 500 + "@example.com"}, {"email": "is 512 characters long; that is"}),
        ({"email": ["a@example.com"]}, {"email": "must be a string"}),
        ({"email": "ok@example.com", "name": "Eve\r\nBcc: v@example.com"}, {"name": "must be"}),
        ({"email": "ok@example.com", "name": 7}, {"name": "must be a string"}),
        (
            {"email": "ok@example.com", "categories": ["Design", "Robotics"]},
            {"categories": "'Robotics' is not one of our categories"},
        ),
        (
            {"email": "ok@example.com", "categories": {"Design": True}},
            {"categories": "must be a list of names, or one string of names separated by"},
        ),
        (
            {"email": "ok@example.com", "timezone": "Mars/Olympus"},
            {"timezone": "'Mars/Olympus' is not a time zone of the IANA database"},
        ),
        (
            {"email": "ok@example.com", "timezone": "Etc/Unknown"},
            {"timezone": "'Etc/Unknown' is not a time zone of the IANA database"},
        ),
        ({"email": "ok@example.com", "timezone": 9}, {"timezone": "must be a string"}),
        (
            {"email": "ok@example.com", "emial": "typo@example.com"},
            {"emial": "is not a field this API reads (email, name, categories, timezone)"},
        ),
        (
            # Every field that is wrong is named, not only the first.
            {"email": "nope", "name": "<b>", "categories": "Nothing", "timezone": "Nowhere"},
            {
                "email": "'nope' is not a valid address",
                "name": "must not contain '<' or '>'",
                "categories": "'Nothing' is not one of our categories",
                "timezone": "'Nowhere' is not a time zone",
            },
        ),
    ],
)
def test_a_bad_field_is_a_400_naming_it_and_changes_nothing(
    client: FlaskClient,
    sessions: sessionmaker[Session],
    body: dict[str, Any],
    fields: dict[str, str],
) -> None:
    answer = api(client, body)
    assert answer.status_code == 400
    assert answer.json is not None and answer.json["status"] == "invalid"
    named = answer.json["fields"]
    assert named.keys() == fields.keys()
    for field, start in fields.items():
        assert named[field].startswith(start), named[field]
        assert f"{field}: {named[field]}" in answer.json["message"]
    assert answer.headers["Access-Control-Allow-Origin"] == LISTED  # the page may read why
    assert count(sessions, Subscriber) == 0 and count(sessions, RateHit) == 0
    assert sent() == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"{not json", "the body: line 1, column 2: Expecting property name enclosed in"),
        (b'["email", "a@example.com"]', "the body is not a JSON object"),
        (b'{"email": NaN}', "the body: NaN is not a JSON number"),
        (b"[" * 100 + b"]" * 100, "the body: nested deeper than 32 levels"),
        (b'{"email": "\xff@example.com"}', "the body: not UTF-8 text"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400_saying_why(
    client: FlaskClient, sessions: sessionmaker[Session], data: bytes, problem: str
) -> None:
    answer = client.post("/api/subscribe", data=data, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json is not None and answer.json["status"] == "bad-request"
    assert answer.json["message"].startswith(problem), answer.json
    assert count(sessions, Subscriber) == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/json-patch+json", None]
)
def test_another_type_of_body_is_a_415(
    client: FlaskClient, sessions: sessionmaker[Session], content_type: str | None
) -> None:
    # text/plain is what a page of any site may post without a preflight.
    body = json.dumps({"email": "plain@example.com"})
    headers = {"Content-Type": content_type} if content_type else {}
    answer = client.post("/api/subscribe", data=body, headers=headers)
    assert answer.status_code == 415
    assert answer.json is not None and answer.json["status"] == "unsupported-media-type"
    assert "application/json" in answer.json["message"]
    assert count(sessions, Subscriber) == 0


def test_a_body_over_the_limit_is_a_413_read_no_further(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    big = {"email": "big@example.com", "name": "n" * 20_000}
    answer = api(client, big)
    assert answer.status_code == 413
    assert answer.json == {"status": "too-large", "message": "The request is larger than 16 KB."}
    form = client.post("/api/subscribe", data={"email": "big@example.com", "name": "n" * 20_000})
    assert form.status_code == 413 and form.json is not None
    assert count(sessions, Subscriber) == 0


def test_the_api_and_the_form_count_against_one_limit_per_client(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    load_content(sessions)
    limited = replace(settings, subscribe_limit_per_client=3, allowed_origins=(LISTED,))
    client = create_app(limited, sessions=sessions).test_client()
    started = time.monotonic()
    assert client.post("/subscribe", data={"email": "f1@example.com"}).status_code == 200
    assert client.post("/subscribe", data={"email": "f2@example.com"}).status_code == 200
    assert api(client, {"email": "a1@example.com"}).status_code == 202
    refused = api(client, {"email": "a2@example.com"})
    assert refused.status_code == 429
    assert refused.json is not None and refused.json["status"] == "too-many-requests"
    # Until the first of the three leaves the hour.
    wait = int(refused.headers["Retry-After"])
    assert 3600 - math.ceil(time.monotonic() - started) <= wait <= 3600
    assert refused.json["retry_after"] == wait
    assert refused.headers["Access-Control-Expose-Headers"] == "Retry-After"
    form = client.post("/subscribe", data={"email": "f3@example.com"})
    assert form.status_code == 429
    assert 3600 - math.ceil(time.monotonic() - started) <= int(form.headers["Retry-After"])
    assert subscriber(sessions, "a2@example.com") is None
    assert len(sent()) == 3
    # Another client is not affected.
    other = api(client, {"email": "a3@example.com"}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 202


def test_a_preflight_says_yes_to_a_listed_origin_only(client: FlaskClient) -> None:
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    listed = client.options("/api/subscribe", headers={"Origin": LISTED, **asked})
    assert listed.status_code == 204 and listed.data == b""
    assert listed.headers["Access-Control-Allow-Origin"] == LISTED
    assert listed.headers["Access-Control-Allow-Methods"] == "POST"
    assert listed.headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert listed.headers["Access-Control-Max-Age"] == "7200"
    assert listed.headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Credentials" not in listed.headers

    for origin in (STRANGER, "https://compare.example.evil.example", "null"):
        other = client.options("/api/subscribe", headers={"Origin": origin, **asked})
        assert other.status_code == 204 and other.headers["Vary"] == "Origin"
        assert not [h for h, _ in other.headers if h.startswith("Access-Control-")]


def test_an_answer_is_readable_by_a_listed_origins_page_only(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    listed = api(client, {"email": "listed@example.com"})
    assert listed.status_code == 202
    assert listed.headers["Access-Control-Allow-Origin"] == LISTED
    assert listed.headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Credentials" not in listed.headers
    assert "Set-Cookie" not in listed.headers

    # A page of the app's own site, or no page at all (a server, curl):
    # taken, with no CORS headers (none are needed).
    for headers in ({"Origin": SITE}, {}):
        own = client.post("/api/subscribe", json={"email": "own@example.com"}, headers=headers)
        assert own.status_code == 202
        assert "Access-Control-Allow-Origin" not in own.headers


@pytest.mark.parametrize(
    "origin", [STRANGER, "null", "http://compare.example", "https://compare.example:8443"]
)
def test_a_request_from_a_page_of_an_unlisted_site_is_refused_and_changes_nothing(
    client: FlaskClient, sessions: sessionmaker[Session], origin: str
) -> None:
    # A form post or a no-cors fetch reaches the server without a preflight:
    # the API refuses it, so that no other site's pages can use their
    # visitors' browsers (and addresses) to send subscribe requests.
    for answer in (
        api(client, {"email": "victim@example.com"}, headers={"Origin": origin}),
        client.post(
            "/api/subscribe", data={"email": "victim@example.com"}, headers={"Origin": origin}
        ),
    ):
        assert answer.status_code == 403
        assert answer.json is not None and answer.json["status"] == "origin-not-allowed"
        assert "Access-Control-Allow-Origin" not in answer.headers
    assert count(sessions, Subscriber) == 0 and count(sessions, RateHit) == 0
    assert sent() == []


def test_with_no_origin_listed_only_the_apps_own_pages_and_servers_are_taken(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    load_content(sessions)
    client = create_app(settings, sessions=sessions).test_client()
    assert settings.allowed_origins == ()
    refused = api(client, {"email": "a@example.com"})  # from LISTED, not listed here
    assert refused.status_code == 403
    preflight = client.options("/api/subscribe", headers={"Origin": LISTED})
    assert "Access-Control-Allow-Origin" not in preflight.headers
    own = client.post("/api/subscribe", json={"email": "a@example.com"}, headers={"Origin": SITE})
    assert own.status_code == 202
