"""Webhooks out (worker/deliver/webhooks.py, worker/store/outbox.py), on both
stores, to a real receiver on loopback that verifies every signature with
the Standard Webhooks project's own library: each event once, at least once
through an outage, in order per subscriber, nothing for a change rolled
back, a 410 that disables, a day of retries and then none."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from subscribers import admin, consent
from subscribers.roster import candidate
from subscribers.votes import record_vote
from tests.support.editions import send_sample_week
from tests.support.sample import load_content
from tests.support.webhookreceiver import Receiver, receiving
from tests.support.webhooks import SECRET, hook_settings, recording, stored_events
from worker.config import Settings
from worker.deliver.webhooks import claim, deliver_webhooks, prune_webhooks, requeue
from worker.domain.states import SubscriberStatus
from worker.domain.suppression import SuppressionReason
from worker.domain.verdicts import Verdict
from worker.domain.webhooks import GIVE_UP_AFTER, EventType, WebhookStatus
from worker.now import process_now
from worker.store import session_factory
from worker.store.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiving(SECRET)


@pytest.fixture
def hooks(settings: Settings, receiver: Receiver) -> Settings:
    return hook_settings(settings, receiver.url)


@pytest.fixture
def events(engine: Engine) -> sessionmaker[Session]:
    return recording(engine)


def life_of(sessions: sessionmaker[Session], address: str, tool: str = "claude-files-api") -> int:
    """A reader who subscribes, confirms, votes and unsubscribes, each in a
    transaction of its own, as the web app makes them; their id."""
    now = process_now()
    with sessions.begin() as session:
        _, subscriber = consent.subscribe(session, candidate(address), now)
        assert subscriber is not None
        subscriber_id = subscriber.id
    with sessions.begin() as session:
        assert consent.confirm(session, subscriber_id, address, now, now) == "confirmed"
    with sessions.begin() as session:
        assert record_vote(session, subscriber_id, tool, Verdict.SHIP, now)
    with sessions.begin() as session:
        assert consent.unsubscribe(session, subscriber_id, now)
    return subscriber_id


def test_each_event_arrives_once_signed_and_in_order_per_subscriber(
    events: sessionmaker[Session], hooks: Settings, receiver: Receiver
) -> None:
    send_sample_week(events, hooks)  # eight imported subscribers, an edition sent
    ada = life_of(events, "ada@example.org")
    with events.begin() as session:
        admin.suppress_address(session, "ada@example.org", SuppressionReason.COMPLAINT, None)

    report = deliver_webhooks(events, hooks, "w1")

    stored = stored_events(events)
    assert report.delivered == len(stored) == len(receiver.received)
    assert all(r.verified and r.answered == 204 for r in receiver.received)
    assert sorted(r.webhook_id for r in receiver.received) == sorted(e[1] for e in stored)
    by_type = defaultdict(list)
    for r in receiver.received:
        by_type[r.event_type].append(r.data)
    assert {t: len(found) for t, found in by_type.items()} == {
        "subscriber.created": 9,
        "subscriber.confirmed": 9,
        "vote.cast": 1,
        "subscriber.unsubscribed": 1,
        "subscriber.suppressed": 1,
        "edition.sent": 1,
    }
    ada_events = [r.event_type for r in receiver.received if r.data.get("subscriber_id") == ada]
    assert ada_events == [
        "subscriber.created",
        "subscriber.confirmed",
        "vote.cast",
        "subscriber.unsubscribed",
        "subscriber.suppressed",
    ]
    (sent,) = by_type["edition.sent"]
    assert (sent["week"], sent["recipients"], sent["counts"]) == ("2026-W48", 8, {"sent": 8})
    (vote,) = by_type["vote.cast"]
    assert (vote["email"], vote["tool"], vote["verdict"]) == (
        "ada@example.org",
        "claude-files-api",
        "ship",
    )
    (suppressed,) = by_type["subscriber.suppressed"]
    assert (suppressed["email"], suppressed["reason"]) == ("ada@example.org", "complaint")
    assert suppressed["status"] == SubscriberStatus.UNSUBSCRIBED
    with events() as session:
        states = session.scalars(select(WebhookDelivery.status).distinct()).all()
    assert states == [WebhookStatus.DELIVERED]
    # Delivered is delivered: another pass sends nothing again.
    assert deliver_webhooks(events, hooks, "w1").attempts == 0
    assert len(receiver.received) == len(stored)


def test_through_an_outage_every_event_arrives_and_none_before_an_earlier_one(
    events: sessionmaker[Session], hooks: Settings, receiver: Receiver
) -> None:
    load_content(events)
    readers = [life_of(events, f"reader{n}@example.org") for n in range(3)]
    stored = stored_events(events)
    receiver.stop()  # down: connections refused

    first = deliver_webhooks(events, hooks, "w1", now=T0)
    assert (first.delivered, first.retrying) == (0, len(readers))  # one head event each
    assert receiver.received == []

    receiver.start()  # up again, and overloaded for its first five requests
    receiver.script.extend([503] * 5)
    moment = T0
    for _ in range(30):
        moment += dt.timedelta(hours=1)  # past any backoff (at most an hour)
        deliver_webhooks(events, hooks, "w1", now=moment)
        if len(receiver.accepted()) >= len(stored):
            break

    assert all(r.verified for r in receiver.received)
    accepted = [r.webhook_id for r in receiver.accepted()]
    assert sorted(accepted) == sorted(e[1] for e in stored)  # each at least once: here, once
    order = {message_id: event_id for event_id, message_id, _, _ in stored}
    subscriber_of = {message_id: subscriber for _, message_id, _, subscriber in stored}
    for reader in readers:
        theirs = [event_id for event_id, _, _, who in stored if who == reader]
        accepted_before: list[int] = []
        for request in receiver.received:
            if subscriber_of[request.webhook_id] != reader:
                continue
            event_id = order[request.webhook_id]
            # Every earlier event of the reader was accepted before this one came.
            assert accepted_before[: theirs.index(event_id)] == theirs[: theirs.index(event_id)]
            if 200 <= request.answered < 300 and event_id not in accepted_before:
                accepted_before.append(event_id)
        assert accepted_before == theirs


def test_a_change_rolled_back_records_no_event_and_sends_nothing(
    events: sessionmaker[Session], hooks: Settings, receiver: Receiver
) -> None:
    with pytest.raises(RuntimeError), events.begin() as session:
        consent.subscribe(session, candidate("gone@example.org"), process_now())
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 1
        raise RuntimeError("the request failed after the change")
    assert stored_events(events) == []
    assert deliver_webhooks(events, hooks, "w1").attempts == 0
    assert receiver.received == []


def test_no_event_is_recorded_without_webhooks(
    engine: Engine, sessions: sessionmaker[Session], hooks: Settings
) -> None:
    load_content(sessions)
    life_of(sessions, "quiet@example.org")
    assert stored_events(sessions) == []


def test_a_410_disables_the_endpoint_with_a_log_line_until_retried(
    events: sessionmaker[Session],
    hooks: Settings,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    load_content(events)
    life_of(events, "one@example.org")
    life_of(events, "two@example.org")
    receiver.answer = 410

    with caplog.at_level(logging.WARNING, logger="worker.webhooks"):
        report = deliver_webhooks(events, hooks, "w1", now=T0)

    assert report.disabled == [receiver.url]
    (line,) = [r for r in caplog.records if r.getMessage() == "webhook endpoint disabled"]
    assert line.endpoint == receiver.url and line.reason == "410 Gone"  # type: ignore[attr-defined]
    with events() as session:
        endpoint = session.scalars(select(WebhookEndpoint)).one()
        states = session.scalars(select(WebhookDelivery.status).distinct()).all()
    assert endpoint.disabled_at == T0
    # The batch goes out a few at once: either reader's first event may be named.
    gone = {f"answered 410 Gone to {r.webhook_id}" for r in receiver.received}
    assert endpoint.disabled_reason in gone
    assert states == [WebhookStatus.FAILED]
    tried = len(receiver.received)
    assert tried <= 2  # the first batch (one head event per reader), then nothing

    # Disabled: new events are not sent to it.
    life_of(events, "three@example.org")
    assert deliver_webhooks(events, hooks, "w1", now=T0 + dt.timedelta(hours=1)).attempts == 0
    assert len(receiver.received) == tried

    receiver.answer = 204
    due, enabled = requeue(events, failed=True, now=T0 + dt.timedelta(hours=2))
    assert enabled == [receiver.url] and due == 8
    deliver_webhooks(events, hooks, "w1", now=T0 + dt.timedelta(hours=2))
    assert len(receiver.accepted()) == 8  # the events fanned out before it was disabled


def test_a_webhook_is_given_up_after_a_day_of_retries(
    events: sessionmaker[Session],
    hooks: Settings,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with events.begin() as session:
        admin.suppress_address(session, "bounced@example.org", SuppressionReason.HARD_BOUNCE, None)
    receiver.answer = 503
    moment = T0
    with caplog.at_level(logging.ERROR, logger="worker.webhooks"):
        while moment <= T0 + GIVE_UP_AFTER + dt.timedelta(hours=2):
            deliver_webhooks(events, hooks, "w1", now=moment)
            moment += dt.timedelta(minutes=20)
    attempts = len(receiver.received)
    # 10 s, 20 s, … an hour: about 30 attempts in 24 hours, then no more.
    assert 20 <= attempts <= 40
    with events() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
    assert delivery.status == WebhookStatus.FAILED
    assert delivery.attempts == attempts and delivery.last_status == 503
    assert delivery.first_attempt_at == T0
    assert delivery.last_error == "HTTP 503 Service Unavailable: thanks"
    (line,) = [r for r in caplog.records if r.getMessage() == "webhook given up"]
    assert line.type == "subscriber.suppressed"  # type: ignore[attr-defined]

    deliver_webhooks(events, hooks, "w1", now=moment + dt.timedelta(days=1))
    assert len(receiver.received) == attempts


def test_claims_take_no_event_behind_an_earlier_pending_one_of_its_subscriber(
    events: sessionmaker[Session], hooks: Settings, receiver: Receiver
) -> None:
    load_content(events)
    reader = life_of(events, "ordered@example.org")  # four events
    receiver.stop()
    deliver_webhooks(events, hooks, "w1", now=T0)  # the first fails: pending, not due
    with events.begin() as session:
        endpoint_id = session.scalar(select(WebhookEndpoint.id))
        assert endpoint_id is not None
        # Due now, yet behind the first, which waits for its retry.
        assert claim(session, endpoint_id, "w2", T0 + dt.timedelta(seconds=1)) == []
        later = claim(session, endpoint_id, "w2", T0 + dt.timedelta(hours=1))
    assert [a.event_type for a in later] == [EventType.SUBSCRIBER_CREATED]
    with events.begin() as session:
        # Leased to w2: another worker takes nothing of that reader meanwhile.
        assert claim(session, endpoint_id, "w3", T0 + dt.timedelta(hours=1)) == []
    assert reader in {who for *_, who in stored_events(events)}


def test_a_receiver_too_slow_is_tried_again(
    events: sessionmaker[Session], settings: Settings, receiver: Receiver
) -> None:
    hooks = hook_settings(settings, receiver.url, timeout=0.5)
    with events.begin() as session:
        admin.suppress_address(session, "slow@example.org", SuppressionReason.MANUAL, None)
    receiver.hold = threading.Event()  # answers only once the test lets it
    report = deliver_webhooks(events, hooks, "w1", now=T0)
    receiver.hold.set()
    assert report.retrying == 1
    with events() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
    assert delivery.status == WebhookStatus.PENDING
    assert delivery.last_error == "timed out after 0.5 s"
    assert delivery.next_attempt_at > T0


def test_a_private_address_not_allowed_is_refused_and_nothing_sent(
    events: sessionmaker[Session], settings: Settings, receiver: Receiver
) -> None:
    hooks = dataclasses.replace(hook_settings(settings, receiver.url), webhook_allow_private=())
    with events.begin() as session:
        admin.suppress_address(session, "private@example.org", SuppressionReason.MANUAL, None)
    assert deliver_webhooks(events, hooks, "w1", now=T0).retrying == 1
    assert receiver.received == []
    with events() as session:
        error = session.scalar(select(WebhookDelivery.last_error))
    assert error == (
        "resolves to 127.0.0.1, a loopback address; "
        "WEBHOOK_ALLOW_PRIVATE lists the private hosts webhooks may go to"
    )


def test_an_endpoint_taken_out_of_the_setting_fails_what_was_pending(
    events: sessionmaker[Session], hooks: Settings, receiver: Receiver, settings: Settings
) -> None:
    with events.begin() as session:
        admin.suppress_address(session, "left@example.org", SuppressionReason.MANUAL, None)
    receiver.stop()
    deliver_webhooks(events, hooks, "w1", now=T0)
    other = hook_settings(settings, "https://other.example/hooks")
    deliver_webhooks(events, other, "w1", now=T0 + dt.timedelta(hours=1))
    with events() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
    assert delivery.status == WebhookStatus.FAILED
    assert delivery.last_error == "the endpoint is no longer in WEBHOOK_URLS"


def test_an_erasure_forgets_the_events_and_tells_the_receiver(
    events: sessionmaker[Session], hooks: Settings, receiver: Receiver
) -> None:
    load_content(events)
    reader = life_of(events, "erase@example.org")
    with events.begin() as session:
        admin.remove_subscriber(session, "erase@example.org", erase=True, now=process_now())
    assert [(t, who) for _, _, t, who in stored_events(events)] == [("subscriber.suppressed", None)]
    deliver_webhooks(events, hooks, "w1")
    (told,) = receiver.received
    assert told.data == {"subscriber_id": None, "email": "erase@example.org", "reason": "manual"}
    assert reader not in {who for *_, who in stored_events(events)}


def test_settled_events_are_pruned_after_a_week_and_pending_ones_kept(
    events: sessionmaker[Session], hooks: Settings, receiver: Receiver
) -> None:
    load_content(events)
    life_of(events, "old@example.org")
    deliver_webhooks(events, hooks, "w1")
    receiver.stop()
    with events.begin() as session:
        admin.suppress_address(session, "old@example.org", SuppressionReason.MANUAL, None)
    deliver_webhooks(events, hooks, "w1")  # refused: stays pending
    assert prune_webhooks(events, process_now() + dt.timedelta(days=6)) == 0
    assert prune_webhooks(events, process_now() + dt.timedelta(days=8)) == 4
    assert [t for _, _, t, _ in stored_events(events)] == ["subscriber.suppressed"]


def test_the_store_clock_schedules_when_no_time_is_given(
    engine: Engine, hooks: Settings, receiver: Receiver
) -> None:
    plain = session_factory(engine)
    events = recording(engine)
    with events.begin() as session:
        admin.suppress_address(session, "clock@example.org", SuppressionReason.MANUAL, None)
    assert deliver_webhooks(plain, hooks, "w1").delivered == 1
    (arrived,) = receiver.received
    assert arrived.verified
