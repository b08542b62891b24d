"""``/r/<token>?to=…``: a genuine counted link is counted and redirected (302);
anything else is a 400 page, never a redirect. On both stores."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from tests.support.webapp import serving, watching
from worker.config import Settings
from worker.domain.clicks import ClickLinks, edition_links
from worker.domain.states import EditionStatus
from worker.store import make_engine
from worker.store.models import ClickCount, Edition

SITE = "https://verdicts.example"
DESTINATION = "https://parcelbot.example/launch?ref=digest&x=1+2#top"


def add_edition(sessions: sessionmaker[Session], week: str, *, started: bool) -> None:
    with sessions.begin() as session:
        session.add(
            Edition(
                list_id="weekly",
                week=week,
                status=EditionStatus.SENDING if started else EditionStatus.READY,
                started_at=dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC) if started else None,
            )
        )


def links(settings: Settings, week: str = "2026-W48") -> ClickLinks:
    found = edition_links(settings, week)
    assert found is not None
    return found


def path(url: str) -> str:
    assert url.startswith(SITE)
    return url.removeprefix(SITE)


def clicks(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {c.item: c.clicks for c in session.scalars(select(ClickCount))}


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> FlaskClient:
    add_edition(sessions, "2026-W48", started=True)
    return create_app(settings, sessions=sessions).test_client()


def test_a_genuine_link_is_counted_and_sent_on(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    url = links(settings).url("launch:parcelbot", DESTINATION)
    for _ in range(3):
        answer = client.get(path(url))
        assert answer.status_code == 302
        assert answer.headers["Location"] == DESTINATION
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert "Set-Cookie" not in answer.headers
    assert clicks(sessions) == {"launch:parcelbot": 3}


def test_a_head_is_answered_but_not_counted(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    answer = client.head(path(links(settings).url("launch:parcelbot", DESTINATION)))
    assert answer.status_code == 302 and answer.headers["Location"] == DESTINATION
    assert clicks(sessions) == {}


def test_the_destination_is_never_moved_to_the_site(
    client: FlaskClient, settings: Settings
) -> None:
    """Other redirects are pinned to SITE_URL's host; this one goes where it was signed for."""
    url = links(settings).url("launch:parcelbot", "http://127.0.0.1:9/x")
    answer = client.get(path(url), headers={"Host": "evil.example"})
    assert answer.headers["Location"] == "http://127.0.0.1:9/x"


def bad_links(settings: Settings) -> list[str]:
    url = links(settings).url("launch:parcelbot", DESTINATION)
    token, _, query = path(url).removeprefix("/r/").partition("?")
    week, kind, slug, mac = token.split(".")
    flipped = ("B" if mac[0] == "A" else "A") + mac[1:]
    foreign = links(dataclasses.replace(settings, secret_key="someone-elses-key"))
    return [
        f"/r/{week}.{kind}.{slug}.{flipped}?{query}",  # altered signature
        f"/r/2026-W47.{kind}.{slug}.{mac}?{query}",  # another edition
        f"/r/{week}.{kind}.other.{mac}?{query}",  # another item
        f"/r/{token}?to=https://evil.example/",  # a foreign destination
        f"/r/{token}?to=https://parcelbot.example.evil.example/launch",
        f"/r/{token}",  # no destination
        f"/r/{token}?to=javascript:alert(1)",
        f"/r/{token}?to=" + "x" * 5000,
        "/r/" + "a" * 500 + f"?{query}",
        path(foreign.url("launch:parcelbot", "https://evil.example/")),  # signed elsewhere
        "/r/not-a-token?to=https://evil.example/",
    ]


def test_an_altered_token_or_a_foreign_destination_is_a_400_never_a_redirect(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    for bad in bad_links(settings):
        answer = client.get(bad)
        assert answer.status_code == 400, bad
        assert "Location" not in answer.headers, bad
        assert b"This link is not valid" in answer.data
        assert b"evil.example" not in answer.data
    assert clicks(sessions) == {}


def test_a_link_of_an_edition_not_sent_yet_is_followed_not_counted(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """A preview's or a test send's links, before the send: the editor is no reader."""
    add_edition(sessions, "2026-W49", started=False)
    for week in ("2026-W49", "2026-W50"):  # not sent yet; not even built
        answer = client.get(path(links(settings, week).url("launch:parcelbot", DESTINATION)))
        assert answer.status_code == 302 and answer.headers["Location"] == DESTINATION
    assert clicks(sessions) == {}


@contextmanager
def click_count_locked(engine: Engine) -> Iterator[None]:
    """What a click's upsert must wait for, held by another connection: on
    SQLite the write lock, on PostgreSQL the click's row."""
    if engine.dialect.name == "sqlite":
        assert engine.url.database
        lite = sqlite3.connect(engine.url.database, isolation_level=None, check_same_thread=False)
        lite.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            lite.execute("ROLLBACK")
            lite.close()
        return
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with other.connect() as connection:
            connection.execute(text("SELECT id FROM click_count FOR UPDATE"))
            yield
            connection.rollback()
    finally:
        other.dispose()


def test_the_reader_is_sent_on_while_the_store_stays_busy(
    settings: Settings, sessions: sessionmaker[Session], engine: Engine
) -> None:
    add_edition(sessions, "2026-W48", started=True)
    url = links(settings).url("launch:parcelbot", DESTINATION)
    app = create_app(dataclasses.replace(settings, site_url=SITE), sessions=sessions)
    with serving(app) as base:
        opener = urllib.request.build_opener(_NoRedirects)
        assert _status(opener, f"{base}{path(url)}") == 302  # the row exists: now lock it
        answers: list[int] = []
        with watching("subscribers.web") as log, click_count_locked(engine):
            request = threading.Thread(
                target=lambda: answers.append(_status(opener, f"{base}{path(url)}"))
            )
            request.start()
            request.join(30)  # the lock is held all along: the answer came without it
            assert answers == [302]
            record = log.wait_for("click not counted")
            assert record.__dict__["item"] == "launch:parcelbot"
    assert clicks(sessions) == {"launch:parcelbot": 1}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _status(opener: urllib.request.OpenerDirector, url: str) -> int:
    try:
        with opener.open(url, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
