"""The preferences page (subscribers/web/pages/preferences.py), through Flask's
test client on both stores: categories and a pause, saved with the form's
CSRF value, and what a pause does to the next edition."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.editions import start_week
from tests.support.pages import csrf_of, subscriber, token
from tests.support.subscribers import add_confirmed
from worker.config import Settings
from worker.domain.tokens import Purpose
from worker.store.models import Delivery, Subscriber


def test_preferences_change_categories_and_pause_with_csrf(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    subscriber_id = add_confirmed(sessions, "picky@example.com")
    url = f"/preferences/{token(settings, Purpose.PREFERENCES, subscriber_id)}"
    page = client.get(url)
    assert page.status_code == 200 and b"picky@example.com" in page.data

    # Without the form's CSRF value (another site's form): refused, unchanged.
    refused = client.post(url, data={"category": "Developer Tools", "pause": "4"})
    assert refused.status_code == 400
    assert subscriber(sessions, "picky@example.com").categories == ""  # type: ignore[union-attr]

    saved = client.post(
        url,
        data={"csrf_token": csrf_of(page.data), "category": "Developer Tools", "pause": "4"},
    )
    assert saved.status_code == 200 and b"Saved" in saved.data
    changed = subscriber(sessions, "picky@example.com")
    assert changed is not None and changed.categories == "Developer Tools"
    assert changed.paused_until is not None
    assert changed.paused_until - dt.datetime.now(dt.UTC) > dt.timedelta(days=27)

    # Keeping the pause while choosing everything again; then resuming.
    client.post(url, data={"csrf_token": csrf_of(saved.data), "all": "1", "pause": "keep"})
    kept = subscriber(sessions, "picky@example.com")
    assert kept is not None and kept.categories == "" and kept.paused_until is not None
    client.post(url, data={"csrf_token": csrf_of(saved.data), "all": "1", "pause": "0"})
    assert subscriber(sessions, "picky@example.com").paused_until is None  # type: ignore[union-attr]


def test_the_owner_changes_their_name_on_the_preferences_page(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    # The subscribe form cannot change a stored name (a stranger could send
    # it): this page, behind the owner's signed link, is where it changes.
    with sessions.begin() as session:
        row = Subscriber(email="ada@example.com", name="Not Ada", status="confirmed")
        session.add(row)
        session.flush()
        url = f"/preferences/{token(settings, Purpose.PREFERENCES, row.id)}"
    page = client.get(url)
    assert b'value="Not Ada"' in page.data
    form = {"csrf_token": csrf_of(page.data), "all": "1", "pause": "keep"}
    refused = client.post(url, data={**form, "name": "Ada <ceo@bank.example>"})
    assert refused.status_code == 400 and b"name: must not contain" in refused.data
    assert subscriber(sessions, "ada@example.com").name == "Not Ada"  # type: ignore[union-attr]
    assert client.post(url, data={**form, "name": " Ada Lovelace "}).status_code == 200
    assert subscriber(sessions, "ada@example.com").name == "Ada Lovelace"  # type: ignore[union-attr]
    assert client.post(url, data={**form, "name": ""}).status_code == 200
    assert subscriber(sessions, "ada@example.com").name is None  # type: ignore[union-attr]


def zones_offered(page: bytes) -> tuple[list[str], list[str]]:
    """The zones the page's select offers, and the one selected."""
    select = re.search(rb'<select id="timezone" name="timezone">(.*?)</select>', page, re.S)
    assert select is not None
    options = re.findall(r"<option( value=\"\")?( selected)?>([^<]*)</option>", select[1].decode())
    return [text for _, _, text in options], [text for _, chosen, text in options if chosen]


def test_the_reader_picks_their_time_zone_from_the_list(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    subscriber_id = add_confirmed(sessions, "zoned@example.com")
    url = f"/preferences/{token(settings, Purpose.PREFERENCES, subscriber_id)}"
    page = client.get(url)
    offered, selected = zones_offered(page.data)
    # None stored: the list's zone (DIGEST_TIMEZONE) is preselected.
    assert selected == ["The list's: Europe/Berlin"]
    assert {"Asia/Singapore", "America/Los_Angeles", "Pacific/Kiritimati", "UTC"} <= {*offered}
    assert "localtime" not in offered and "US/Pacific" not in offered
    assert b'<optgroup label="Asia">' in page.data

    form = {"csrf_token": csrf_of(page.data), "all": "1", "pause": "keep"}
    saved = client.post(url, data={**form, "timezone": "Asia/Singapore"})
    assert saved.status_code == 200 and b"Saved" in saved.data
    assert zones_offered(saved.data)[1] == ["Asia/Singapore"]
    assert subscriber(sessions, "zoned@example.com").timezone == "Asia/Singapore"  # type: ignore[union-attr]

    # A zone that is not one, with another change: refused, nothing changed.
    refused = client.post(url, data={**form, "timezone": "Mars/Olympus", "name": "Zed"})
    assert refused.status_code == 400
    assert b"timezone: &#39;Mars/Olympus&#39; is not a time zone" in refused.data
    unchanged = subscriber(sessions, "zoned@example.com")
    assert unchanged is not None and (unchanged.timezone, unchanged.name) == (
        "Asia/Singapore",
        None,
    )

    # The list's zone again: none stored, so it follows DIGEST_TIMEZONE.
    assert client.post(url, data={**form, "timezone": ""}).status_code == 200
    assert subscriber(sessions, "zoned@example.com").timezone is None  # type: ignore[union-attr]


def test_a_stored_zone_the_list_does_not_offer_by_name_stays_chosen(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    # An old name, from an import: saving the page must not change it.
    subscriber_id = add_confirmed(sessions, "old@example.com")
    with sessions.begin() as session:
        session.get(Subscriber, subscriber_id).timezone = "US/Pacific"  # type: ignore[union-attr]
    url = f"/preferences/{token(settings, Purpose.PREFERENCES, subscriber_id)}"
    page = client.get(url)
    assert zones_offered(page.data)[1] == ["US/Pacific"]
    form = {"csrf_token": csrf_of(page.data), "all": "1", "pause": "keep"}
    assert client.post(url, data={**form, "timezone": "US/Pacific"}).status_code == 200
    assert subscriber(sessions, "old@example.com").timezone == "US/Pacific"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "category", ["<script>alert(1)</script>", "Developer Tools\r\nX: y", "c" * 10_000, "Cooking"]
)
def test_preferences_refuse_what_is_not_a_category(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session], category: str
) -> None:
    subscriber_id = add_confirmed(sessions, "picky@example.com", "Design")
    url = f"/preferences/{token(settings, Purpose.PREFERENCES, subscriber_id)}"
    page = client.get(url)
    answer = client.post(
        url, data={"csrf_token": csrf_of(page.data), "category": category, "pause": "8"}
    )
    assert answer.status_code == 400 and b"categories:" in answer.data
    assert b"<script>alert" not in answer.data
    unchanged = subscriber(sessions, "picky@example.com")
    assert unchanged is not None
    assert unchanged.categories == "Design" and unchanged.paused_until is None


def test_a_paused_subscriber_gets_no_delivery(
    settings: Settings, sessions: sessionmaker[Session], app: Flask
) -> None:
    reader = add_confirmed(sessions, "reader@example.com")
    resting = add_confirmed(sessions, "resting@example.com")
    with sessions.begin() as session:
        session.get(Subscriber, resting).paused_until = dt.datetime.now(dt.UTC) + dt.timedelta(  # type: ignore[union-attr]
            weeks=2
        )
    counts = start_week(sessions, settings)
    assert counts.queued == 1
    with sessions() as session:
        assert list(session.scalars(select(Delivery.subscriber_id))) == [reader]
