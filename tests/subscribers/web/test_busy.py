"""Writes while the store is busy (subscribers/web/busy.py and
subscribers/web/spool.py), against the app served on loopback, on both
stores: another connection holds the write lock (SQLite) or the
subscriber's row (PostgreSQL) while a one-click unsubscribe comes in."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from subscribers.web.spool import queued
from tests.support.pages import ONE_CLICK, count, subscriber, token
from tests.support.storelocks import write_lock
from tests.support.subscribers import add_confirmed
from tests.support.webapp import Answer, post, serving, watching
from worker.config import Settings
from worker.domain.states import SubscriberStatus
from worker.domain.tokens import Purpose
from worker.store import make_engine, session_factory
from worker.store.models import RateHit, Subscriber

BODY = b"List-Unsubscribe=One-Click"


def unsubscribe_url(base: str, settings: Settings, subscriber_id: int) -> str:
    return f"{base}/u/{token(settings, Purpose.UNSUBSCRIBE, subscriber_id)}"


def status(sessions: sessionmaker[Session], address: str) -> str:
    found = subscriber(sessions, address)
    assert found is not None
    return found.status


def test_a_one_click_unsubscribe_waits_out_a_busy_store(
    settings: Settings, sessions: sessionmaker[Session], engine: Engine
) -> None:
    ada = add_confirmed(sessions, "ada@example.com")
    app = create_app(settings, sessions=sessions)
    answers: list[Answer] = []
    with (
        serving(app) as base,
        watching("subscribers.web") as log,
        write_lock(engine, ada) as release,
    ):
        request = threading.Thread(
            target=lambda: answers.append(post(unsubscribe_url(base, settings, ada), BODY))
        )
        request.start()
        # Before: "database is locked" after 5 s, a 500, and the reader
        # still subscribed. Now the request waits and tries again.
        log.wait_for("store busy: trying again")
        assert status(sessions, "ada@example.com") == SubscriberStatus.CONFIRMED
        release()
        request.join(30)
    assert answers and answers[0].status == 200, answers
    assert b"You are unsubscribed" in answers[0].body
    assert status(sessions, "ada@example.com") == SubscriberStatus.UNSUBSCRIBED
    assert "one-click unsubscribe queued" not in log.events()


def test_a_one_click_unsubscribe_the_store_cannot_take_is_queued_and_applied_later(
    settings: Settings, sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    config = replace(settings, web_write_wait=1.0, unsubscribe_spool_dir=spool)
    ada = add_confirmed(sessions, "ada@example.com")
    grace = add_confirmed(sessions, "grace@example.com")
    app = create_app(config, sessions=sessions)
    with serving(app) as base, watching("subscribers.web") as log:
        with write_lock(engine, ada):
            asked = dt.datetime.now(dt.UTC)
            answer = post(unsubscribe_url(base, config, ada), BODY)
            answered = dt.datetime.now(dt.UTC)
            # Answered as usual, and on disk before the answer.
            assert answer.status == 200 and b"You are unsubscribed" in answer.body
            [waiting] = queued(spool)
            assert json.loads(waiting.read_text())["subscriber_id"] == ada
            assert status(sessions, "ada@example.com") == SubscriberStatus.CONFIRMED
        assert log.events()[-2:] == ["store busy: write given up", "one-click unsubscribe queued"]

        # The next one-click unsubscribe the store takes applies the queue.
        assert post(unsubscribe_url(base, config, grace), BODY).status == 200
    assert queued(spool) == []
    assert "queued unsubscribes applied" in log.events()
    left = subscriber(sessions, "ada@example.com")
    assert left is not None and left.status == SubscriberStatus.UNSUBSCRIBED
    assert left.unsubscribed_at is not None and asked <= left.unsubscribed_at <= answered
    assert status(sessions, "grace@example.com") == SubscriberStatus.UNSUBSCRIBED


def queue_one(
    settings: Settings, sessions: sessionmaker[Session], engine: Engine, spool: Path
) -> tuple[Settings, int]:
    """A one-click unsubscribe of a confirmed subscriber, queued while the
    store was locked; the app's settings and the subscriber's id."""
    config = replace(settings, web_write_wait=0.5, unsubscribe_spool_dir=spool)
    ada = add_confirmed(sessions, "ada@example.com")
    client = create_app(config, sessions=sessions).test_client(use_cookies=False)
    with write_lock(engine, ada):
        url = f"/u/{token(config, Purpose.UNSUBSCRIBE, ada)}"
        assert client.post(url, data=ONE_CLICK).status_code == 200
    assert len(queued(spool)) == 1
    assert status(sessions, "ada@example.com") == SubscriberStatus.CONFIRMED
    return config, ada


def test_the_queue_is_applied_when_the_app_starts(
    settings: Settings, sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    config, _ada = queue_one(settings, sessions, engine, tmp_path / "spool")

    create_app(config, sessions=sessions)  # a restart
    assert queued(config.unsubscribe_spool_dir) == []
    assert status(sessions, "ada@example.com") == SubscriberStatus.UNSUBSCRIBED


def test_a_queued_unsubscribe_does_not_undo_a_later_confirmation(
    settings: Settings, sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    config, ada = queue_one(settings, sessions, engine, tmp_path / "spool")
    # Meanwhile they left and came back (a confirmation after the request).
    with sessions.begin() as session:
        row = session.get(Subscriber, ada)
        assert row is not None
        row.confirmed_at = dt.datetime.now(dt.UTC)
    create_app(config, sessions=sessions)
    assert queued(config.unsubscribe_spool_dir) == []
    assert status(sessions, "ada@example.com") == SubscriberStatus.CONFIRMED


def test_an_unsubscribe_neither_the_store_nor_the_spool_takes_is_a_503(
    settings: Settings, sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "spool"
    not_a_directory.write_text("")
    config = replace(settings, web_write_wait=0.5, unsubscribe_spool_dir=not_a_directory)
    ada = add_confirmed(sessions, "ada@example.com")
    client = create_app(config, sessions=sessions).test_client(use_cookies=False)
    with watching("subscribers.web") as log, write_lock(engine, ada):
        answer = client.post(f"/u/{token(config, Purpose.UNSUBSCRIBE, ada)}", data=ONE_CLICK)
    # A 5xx, so that the provider (or the reader) knows to try again.
    assert answer.status_code == 503 and b"Please try again" in answer.data
    lost = "one-click unsubscribe lost: the store refused it and the spool too"
    assert log.events()[-1] == lost
    assert status(sessions, "ada@example.com") == SubscriberStatus.CONFIRMED


def test_a_subscribe_request_the_store_cannot_take_is_a_503_and_changes_nothing(
    settings: Settings, sessions: sessionmaker[Session], engine: Engine
) -> None:
    config = replace(settings, web_write_wait=0.5)
    with sessions.begin() as session:
        pending = Subscriber(email="p@example.com", status=SubscriberStatus.PENDING, name="P")
        session.add(pending)
        session.flush()
        pending_id = pending.id
    client = create_app(config, sessions=sessions).test_client()
    with watching("subscribers.web") as log, write_lock(engine, pending_id):
        answer = client.post("/subscribe", data={"email": "p@example.com", "name": "Q"})
    assert answer.status_code == 503 and b"The site is busy" in answer.data
    assert "store busy: write given up" in log.events()
    assert count(sessions, RateHit) == 0
    stored = subscriber(sessions, "p@example.com")
    assert stored is not None and stored.name == "P"


def home_page_beside(
    settings: Settings, sqlite_template: Path, tmp_path: Path, *pragmas: str
) -> tuple[int, bytes, list[str]]:
    """The home page's status, body and web log events, asked while another
    connection to the store has run ``pragmas`` and holds an exclusive
    transaction."""
    path = tmp_path / "store.sqlite3"
    shutil.copyfile(sqlite_template, path)
    client = create_app(settings, sessions=session_factory(make_engine(f"sqlite:///{path}")))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in pragmas:
            other.execute(pragma)
        other.execute("BEGIN EXCLUSIVE")
        with watching("subscribers.web") as log:
            answer = client.test_client().get("/")
    finally:
        other.close()
    return answer.status_code, answer.data, log.events()


def test_a_page_that_only_reads_answers_while_sqlite_is_being_written(
    settings: Settings, sqlite_template: Path, tmp_path: Path
) -> None:
    # In WAL (worker.store), readers never wait for a writer.
    status_code, _, _ = home_page_beside(settings, sqlite_template, tmp_path)
    assert status_code == 200


def test_a_page_that_only_reads_answers_503_while_sqlite_is_held_whole(
    settings: Settings, sqlite_template: Path, tmp_path: Path
) -> None:
    # A process that holds the whole file (SQLite's exclusive locking mode,
    # as a copy or a repair tool may) makes even a read wait. A read is not
    # tried again, but the answer says "busy", not "something went wrong".
    status_code, body, events = home_page_beside(
        settings,
        sqlite_template,
        tmp_path,
        "PRAGMA journal_mode=WAL",
        "PRAGMA locking_mode=EXCLUSIVE",
    )
    assert status_code == 503 and b"The site is busy" in body
    assert events == ["store busy"]


def test_a_queued_unsubscribe_is_applied_by_a_later_request_of_any_kind(
    settings: Settings, sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    """No reader need leave after it, nor the app restart: a health check
    applies it within seconds of the store taking writes again."""
    spool = tmp_path / "spool"
    config = replace(settings, web_write_wait=0.5, unsubscribe_spool_dir=spool)
    ada = add_confirmed(sessions, "ada@example.com")
    client = create_app(config, sessions=sessions).test_client(use_cookies=False)
    with write_lock(engine, ada):
        url = f"/u/{token(config, Purpose.UNSUBSCRIBE, ada)}"
        assert client.post(url, data=ONE_CLICK).status_code == 200
    assert len(queued(spool)) == 1
    deadline = time.monotonic() + 30
    while queued(spool) and time.monotonic() < deadline:
        assert client.get("/healthz").status_code in (200, 503)
        time.sleep(0.2)  # pacing the checks; the state below is what is waited for
    assert queued(spool) == []
    assert status(sessions, "ada@example.com") == SubscriberStatus.UNSUBSCRIBED
