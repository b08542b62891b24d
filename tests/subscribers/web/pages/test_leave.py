"""One-click unsubscribe (subscribers/web/pages/leave.py), through Flask's test
client on both stores: the RFC 8058 POST, a GET that changes nothing, bad
tokens, and a connection the database dropped."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from tests.support.pages import ONE_CLICK, subscriber, token
from tests.support.subscribers import add_confirmed
from worker.config import Settings
from worker.domain.states import SubscriberStatus
from worker.domain.tokens import Purpose, make_token
from worker.store import make_engine


def test_one_click_post_with_the_rfc_8058_body_unsubscribes_at_once(
    app: Flask, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    subscriber_id = add_confirmed(sessions, "leaver@example.com")
    url = f"/u/{token(settings, Purpose.UNSUBSCRIBE, subscriber_id)}"
    # A mail provider's POST: no cookie, exactly the body RFC 8058 gives.
    fresh = app.test_client(use_cookies=False)
    answer = fresh.post(
        url,
        data=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers
    gone = subscriber(sessions, "leaver@example.com")
    assert gone is not None and gone.status == SubscriberStatus.UNSUBSCRIBED
    assert gone.unsubscribed_at is not None
    # Again: still 200, nothing more changes.
    assert fresh.post(url, data=ONE_CLICK).status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "application/x-www-form-urlencoded"),
        (b"", None),
        (b"List-Unsubscribe=Nope", "application/x-www-form-urlencoded"),
        (b'{"List-Unsubscribe": "One-Click"}', "application/json"),
        (b"\xff\x00 not a form at all", "text/plain"),
    ],
)
def test_any_post_to_a_valid_link_unsubscribes_whatever_its_body(
    app: Flask,
    settings: Settings,
    sessions: sessionmaker[Session],
    body: bytes,
    content_type: str | None,
) -> None:
    # The token authorises it (docs/subscribers.md): some mail clients post
    # no body, or their own, and the reader's unsubscribe must not be lost.
    subscriber_id = add_confirmed(sessions, "leaver@example.com")
    url = f"/u/{token(settings, Purpose.UNSUBSCRIBE, subscriber_id)}"
    answer = app.test_client(use_cookies=False).post(url, data=body, content_type=content_type)
    assert answer.status_code == 200 and b"You are unsubscribed" in answer.data
    assert subscriber(sessions, "leaver@example.com").status == SubscriberStatus.UNSUBSCRIBED  # type: ignore[union-attr]


def test_get_of_the_unsubscribe_link_unsubscribes_nobody(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    subscriber_id = add_confirmed(sessions, "stays@example.com")
    url = f"/u/{token(settings, Purpose.UNSUBSCRIBE, subscriber_id)}"
    for _ in range(3):
        page = client.get(url)
        assert page.status_code == 200 and b"Unsubscribe" in page.data
        assert client.head(url).status_code == 200
    assert subscriber(sessions, "stays@example.com").status == SubscriberStatus.CONFIRMED  # type: ignore[union-attr]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "bad",
    [
        "forged",
        "altered",
        "other-purpose",
        "other-list",
        "too-long",
    ],
)
def test_bad_unsubscribe_tokens_change_nothing_and_say_so(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session], bad: str
) -> None:
    subscriber_id = add_confirmed(sessions, "target@example.com")
    good = token(settings, Purpose.UNSUBSCRIBE, subscriber_id)
    value = {
        "forged": make_token(
            Settings(secret_key="attacker"), Purpose.UNSUBSCRIBE, [subscriber_id, "weekly"]
        ),
        "altered": good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
        "other-purpose": token(settings, Purpose.VOTE, subscriber_id),
        "other-list": make_token(settings, Purpose.UNSUBSCRIBE, [subscriber_id, "another"]),
        "too-long": "A" * 5000,
    }[bad]
    answer = client.post(f"/u/{value}", data=ONE_CLICK)
    assert answer.status_code == 400
    assert b"not valid" in answer.data and b"Nothing was changed" in answer.data
    assert subscriber(sessions, "target@example.com").status == SubscriberStatus.CONFIRMED  # type: ignore[union-attr]


def test_one_click_survives_a_connection_the_database_dropped(
    settings: Settings, pg_sessions: sessionmaker[Session]
) -> None:
    engine = pg_sessions.kw["bind"]
    assert isinstance(engine, Engine)
    subscriber_id = add_confirmed(pg_sessions, "leaver@example.com")
    client = create_app(settings, sessions=pg_sessions).test_client()
    engine.dispose()
    with engine.connect() as connection:  # the one connection in the pool now
        pid = connection.scalar(text("SELECT pg_backend_pid()"))
    behind = make_engine_for(engine)
    with behind.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.commit()
    behind.dispose()

    answer = client.post(
        f"/u/{token(settings, Purpose.UNSUBSCRIBE, subscriber_id)}", data=ONE_CLICK
    )
    assert answer.status_code == 200
    assert subscriber(pg_sessions, "leaver@example.com").status == SubscriberStatus.UNSUBSCRIBED  # type: ignore[union-attr]


def make_engine_for(engine: Engine) -> Engine:
    """Another engine on the same database, for what a test does behind the
    app's back."""

    return make_engine(engine.url.render_as_string(hide_password=False))
