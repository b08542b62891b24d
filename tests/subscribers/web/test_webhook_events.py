"""The web app's changes and their webhooks, on both stores: with
WEBHOOK_URLS set, the app's store records an event with each change (the
one-click unsubscribe too, in the same transaction), and a reader's whole
life through the pages reaches a receiver on loopback signed, in order,
without a secret or a link token in any body."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from subscribers.admin import add_subscriber
from subscribers.web import create_app
from subscribers.web.state import KEY
from tests.support.pages import ONE_CLICK, body, csrf_of, link, sent, subscriber, token
from tests.support.sample import load_content
from tests.support.webhookreceiver import Receiver, receiving
from tests.support.webhooks import SECRET, hook_settings, stored_events
from worker.config import Settings
from worker.deliver.webhooks import deliver_webhooks
from worker.domain.states import SubscriberStatus
from worker.domain.tokens import Purpose
from worker.domain.webhooks import secret_key
from worker.now import process_now
from worker.store import session_factory


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiving(SECRET)


@pytest.fixture
def hooks(settings: Settings, receiver: Receiver, database_url: str) -> Settings:
    return dataclasses.replace(hook_settings(settings, receiver.url), database_url=database_url)


@pytest.fixture
def app(hooks: Settings, sessions: sessionmaker[Session]) -> Flask:
    """The app as gunicorn makes it (its own engine on the test's store),
    WEBHOOK_URLS set."""
    load_content(sessions)
    app = create_app(hooks)
    app.config["TESTING"] = True
    return app


def test_a_readers_life_through_the_pages_reaches_the_receiver_without_a_secret(
    app: Flask, hooks: Settings, sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    client = app.test_client()
    client.post("/subscribe", data={"email": "reader@example.org", "category": "Developer Tools"})
    confirm = link(sent()[0], "confirm")
    assert client.post(confirm).status_code == 200
    reader = subscriber(sessions, "reader@example.org")
    assert reader is not None
    vote = f"/vote/{token(hooks, Purpose.VOTE, reader.id)}/claude-files-api/skip"
    client.post(vote, data={"csrf_token": csrf_of(client.get(vote).data)})
    leave = f"/u/{token(hooks, Purpose.UNSUBSCRIBE, reader.id)}"
    assert app.test_client(use_cookies=False).post(leave, data=ONE_CLICK).status_code == 200

    deliver_webhooks(session_factory(app_engine(app)), hooks, "w1")

    assert [(r.event_type, r.verified) for r in receiver.received] == [
        ("subscriber.created", True),
        ("subscriber.confirmed", True),
        ("vote.cast", True),
        ("subscriber.unsubscribed", True),
    ]
    assert {r.data["subscriber_id"] for r in receiver.received} == {reader.id}
    assert receiver.received[-1].data["status"] == SubscriberStatus.UNSUBSCRIBED
    # No secret, and no link token or its signature, in any body.
    tokens = {confirm.rsplit("/", 1)[1], vote.split("/")[2], leave.rsplit("/", 1)[1]}
    for message in sent():
        tokens |= set(re.findall(r"https://verdicts\.example/\w+/([\w.-]{20,})", body(message)))
    secrets = {hooks.secret_key, SECRET, SECRET.removeprefix("whsec_")}
    secrets |= {secret_key(SECRET).hex()}
    for request in receiver.received:
        text = request.body.decode()
        for value in secrets | tokens | {t.rsplit(".", 1)[-1] for t in tokens}:
            assert value not in text, request.event_type


def test_the_one_click_unsubscribe_writes_its_event_in_its_transaction(
    app: Flask, hooks: Settings, sessions: sessionmaker[Session], engine: Engine
) -> None:
    with sessions.begin() as session:
        added = add_subscriber(
            session, "one@example.org", None, [], confirmed=True, now=process_now()
        )
    leave = f"/u/{token(hooks, Purpose.UNSUBSCRIBE, added.subscriber_id)}"
    fresh = app.test_client(use_cookies=False)
    assert fresh.post(leave, data=ONE_CLICK).status_code == 200
    assert fresh.post(leave, data=ONE_CLICK).status_code == 200  # again: no second event
    assert [t for _, _, t, _ in stored_events(sessions)] == ["subscriber.unsubscribed"]
    gone = subscriber(sessions, "one@example.org")
    assert gone is not None and gone.status == SubscriberStatus.UNSUBSCRIBED


def app_engine(app: Flask) -> Engine:
    """The engine the app made for itself (recording events)."""
    bound = app.extensions[KEY].sessions.kw["bind"]
    assert isinstance(bound, Engine)
    return bound
