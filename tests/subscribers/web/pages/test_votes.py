"""Votes (subscribers/web/pages/votes.py), through Flask's test client on both
stores: the verdict table and one vote per subscriber and tool, recorded
only with the form's CSRF value."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.pages import body, count, csrf_of, sent, token
from tests.support.subscribers import add_confirmed
from worker.config import Settings
from worker.domain.suppression import SuppressionReason
from worker.domain.tokens import Purpose
from worker.store.models import Subscriber, Suppression, Vote


def test_vote_get_shows_the_verdict_table_and_post_records_one_vote(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    subscriber_id = add_confirmed(sessions, "voter@example.com")
    vote_token = token(settings, Purpose.VOTE, subscriber_id)
    url = f"/vote/{vote_token}/claude-files-api/ship"
    page = client.get(url)
    assert page.status_code == 200
    text = page.data.decode()
    assert "Claude Files API" in text and "100%" in text and "Paid" in text
    assert "(4 of 4)" in text and "Community</th><td>—" in text
    assert count(sessions, Vote) == 0  # a GET records nothing

    voted = client.post(url, data={"csrf_token": csrf_of(page.data)})
    assert voted.status_code == 200 and b"your vote" in voted.data
    assert "Community</th><td>100%" in voted.data.decode()

    # A later vote replaces the earlier one.
    skip = f"/vote/{vote_token}/claude-files-api/skip"
    client.post(skip, data={"csrf_token": csrf_of(client.get(skip).data)})
    with sessions() as session:
        votes = session.execute(select(Vote.subscriber_id, Vote.verdict)).all()
    assert votes == [(subscriber_id, "skip")]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/vote/{token}/claude-files-api/maybe", 404),
        ("/vote/{token}/no-such-tool/ship", 404),
        ("/vote/{other}/claude-files-api/ship", 400),
    ],
)
def test_bad_votes_record_nothing(
    client: FlaskClient,
    settings: Settings,
    sessions: sessionmaker[Session],
    path: str,
    status: int,
) -> None:
    subscriber_id = add_confirmed(sessions, "voter@example.com")
    url = path.format(
        token=token(settings, Purpose.VOTE, subscriber_id),
        other=token(settings, Purpose.UNSUBSCRIBE, subscriber_id),
    )
    vote_token = token(settings, Purpose.VOTE, subscriber_id)
    page = client.get(f"/vote/{vote_token}/claude-files-api/ship")
    assert client.post(url, data={"csrf_token": csrf_of(page.data)}).status_code == status
    assert count(sessions, Vote) == 0


def test_a_vote_posted_without_the_forms_csrf_value_records_nothing(
    app: Flask, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    subscriber_id = add_confirmed(sessions, "voter@example.com")
    url = f"/vote/{token(settings, Purpose.VOTE, subscriber_id)}/claude-files-api/ship"
    other_site = app.test_client()
    assert other_site.post(url).status_code == 400
    page = app.test_client().get(url)
    # Another browser's value is not this one's.
    assert other_site.post(url, data={"csrf_token": csrf_of(page.data)}).status_code == 400
    assert count(sessions, Vote) == 0


@pytest.mark.parametrize("who", ["unsubscribed", "bounced", "suppressed", "pending"])
def test_only_subscribers_vote(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session], who: str
) -> None:
    subscriber_id = add_confirmed(sessions, "voter@example.com")
    url = f"/vote/{token(settings, Purpose.VOTE, subscriber_id)}/claude-files-api/ship"
    form = {"csrf_token": csrf_of(client.get(url).data)}  # while still subscribed
    with sessions.begin() as session:
        row = session.get(Subscriber, subscriber_id)
        assert row is not None
        if who == "suppressed":  # a complaint, or too many soft bounces
            session.add(Suppression(email=row.email, reason=SuppressionReason.SOFT_BOUNCES))
        else:
            row.status = who
    for answer in (client.get(url), client.post(url, data=form)):
        # The answer of a link whose subscriber is gone: nothing more told.
        assert answer.status_code == 400
        assert b"This link is not valid" in answer.data
        assert b"no longer on the list" in answer.data
    assert count(sessions, Vote) == 0


# A vote from the site (the comparison page's buttons): no link names the
# voter, so the address that gets the digest is mailed its own vote link.
ASK = "/vote/claude-files-api/ship"


def test_a_vote_from_the_site_mails_the_subscriber_a_link_that_records_it(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    subscriber_id = add_confirmed(sessions, "voter@example.com")
    form = client.get(ASK)
    assert form.status_code == 200
    assert b'name="email"' in form.data and b"(4 of 4)" in form.data
    answer = client.post(ASK, data={"email": " Voter@Example.com "})
    assert answer.status_code == 200 and b"Check your inbox" in answer.data
    assert count(sessions, Vote) == 0  # asking records nothing
    [mail] = sent()
    assert mail["To"] == "voter@example.com"
    assert mail["Subject"] == "Your vote on Claude Files API: Ship it"
    found = re.search(
        r"https://verdicts\.example(/vote/[\w.-]+/claude-files-api/ship)\s", body(mail)
    )
    assert found, body(mail)
    path = found[1]
    page = client.get(path)
    assert page.status_code == 200 and b"record my vote" in page.data
    client.post(path, data={"csrf_token": csrf_of(page.data)})
    with sessions() as session:
        votes = session.execute(select(Vote.subscriber_id, Vote.verdict)).all()
    assert votes == [(subscriber_id, "ship")]


@pytest.mark.parametrize("who", ["stranger", "pending", "unsubscribed", "suppressed"])
def test_a_vote_from_the_site_mails_only_a_subscriber_and_answers_the_same(
    client: FlaskClient, sessions: sessionmaker[Session], who: str
) -> None:
    add_confirmed(sessions, "voter@example.com")
    subscribed = client.post(ASK, data={"email": "voter@example.com"})
    assert len(sent()) == 1
    if who != "stranger":
        subscriber_id = add_confirmed(sessions, "other@example.com")
        with sessions.begin() as session:
            row = session.get(Subscriber, subscriber_id)
            assert row is not None
            if who == "suppressed":
                session.add(Suppression(email=row.email, reason=SuppressionReason.COMPLAINT))
            else:
                row.status = who
    answer = client.post(ASK, data={"email": "other@example.com"})
    # Nobody learns from the answer whether an address is on the list.
    assert (answer.status_code, answer.data) == (subscribed.status_code, subscribed.data)
    assert len(sent()) == 1


@pytest.mark.parametrize(
    ("path", "form", "status"),
    [
        (ASK, {"email": "not an address"}, 400),
        (ASK, {"email": "voter@example.com", "website": "https://spam.example"}, 200),
        ("/vote/claude-files-api/maybe", {"email": "voter@example.com"}, 404),
        ("/vote/no-such-tool/ship", {"email": "voter@example.com"}, 404),
    ],
)
def test_a_bad_vote_request_from_the_site_mails_nothing(
    client: FlaskClient,
    sessions: sessionmaker[Session],
    path: str,
    form: dict[str, str],
    status: int,
) -> None:
    add_confirmed(sessions, "voter@example.com")
    answer = client.post(path, data=form)
    assert answer.status_code == status
    assert sent() == [] and count(sessions, Vote) == 0


def test_votes_asked_from_the_site_count_against_the_subscribe_forms_limits(
    client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """An address gets at most SUBSCRIBE_LIMIT_PER_ADDRESS mails a day from
    the site's forms together: nobody floods an inbox with either."""
    add_confirmed(sessions, "voter@example.com")
    limit = settings.subscribe_limit_per_address
    client.post("/subscribe", data={"email": "voter@example.com"})  # "already subscribed"
    answers = [client.post(ASK, data={"email": "voter@example.com"}) for _ in range(limit)]
    assert len(sent()) == limit
    assert {a.status_code for a in answers} == {200}
    assert answers[-1].data == answers[0].data
