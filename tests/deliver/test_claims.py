"""Claims: deliveries claimed in batches under a lease, renewed, released,
and read with their recipients as they are at that moment."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.sample import W48, build_sample_week
from tests.support.sending import committed, leased
from worker.config import Settings
from worker.deliver.claims import claim, claimed_batch, release, renew
from worker.deliver.editions import set_paused, start_edition
from worker.domain.states import DeliveryStatus, SubscriberStatus
from worker.render.renderer import Renderer
from worker.store import store_now
from worker.store.models import Delivery, Subscriber, Suppression


def started(sessions: sessionmaker[Session], settings: Settings, renderer: Renderer) -> None:
    build_sample_week(sessions, settings, renderer)
    start_edition(sessions, W48, settings)


def lease_ends(sessions: sessionmaker[Session], ids: list[int]) -> dict[int, dt.datetime]:
    with sessions() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.lease_expires_at).where(Delivery.id.in_(ids))
        ).all()
    return {id_: end for id_, end in rows if end is not None}


def test_a_crashed_workers_lease_expires_and_its_batch_is_claimed_again(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer
) -> None:
    started(sessions, small, renderer)
    now = dt.datetime.now(dt.UTC)
    first = committed(sessions, claim, "dead-worker", small, now=now)
    second = committed(sessions, claim, "live-worker", small, now=now)
    assert len(first) == len(second) == 3 and set(first).isdisjoint(second)
    later = now + dt.timedelta(seconds=small.lease_seconds + 1)
    assert committed(sessions, claim, "live-worker", small, now=later) == first


def test_due_retries_are_claimed_before_the_queue(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer
) -> None:
    started(sessions, small, renderer)
    now = dt.datetime.now(dt.UTC)
    with sessions.begin() as session:
        for delivery_id, due in (
            (7, now - dt.timedelta(minutes=1)),
            (8, now + dt.timedelta(hours=1)),
        ):
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(status=DeliveryStatus.DEFERRED, next_attempt_at=due)
            )
    assert committed(sessions, claim, "w", small, now=now) == [7, 1, 2]  # 8 is not due yet


def test_a_batch_claimed_ahead_leaves_out_what_another_worker_took(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer
) -> None:
    started(sessions, small, renderer)
    now = dt.datetime.now(dt.UTC)
    ahead = committed(sessions, claim, "slowpoke", small)
    later = now + dt.timedelta(seconds=small.lease_seconds + 1)
    assert committed(sessions, claim, "other", small, now=later) == ahead  # the lease ran out
    assert committed(sessions, renew, "slowpoke", ahead, small) == []
    mine = committed(sessions, claimed_batch, "slowpoke", ahead)
    assert (mine.deliveries, mine.suppressed) == ([], 0)


def test_renew_starts_the_held_leases_afresh_by_the_stores_clock(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer
) -> None:
    started(sessions, small, renderer)
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=small.lease_seconds / 2)
    mine = committed(sessions, claim, "w", small, now=earlier)
    theirs = committed(sessions, claim, "other", small, now=earlier)
    before = lease_ends(sessions, mine + theirs)
    with sessions.begin() as session:
        floor = store_now(session) + dt.timedelta(seconds=small.lease_seconds)
        renewed = renew(session, "w", mine + theirs, small)
    assert renewed == mine
    after = lease_ends(sessions, mine + theirs)
    assert all(before[i] < after[i] and after[i] >= floor for i in mine)
    assert all(after[i] == before[i] for i in theirs)  # another worker's lease is not touched


def test_release_hands_back_only_this_workers_deliveries(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer
) -> None:
    started(sessions, small, renderer)
    mine = committed(sessions, claim, "w", small)
    theirs = committed(sessions, claim, "other", small)
    committed(sessions, release, "w", mine + theirs)
    assert leased(sessions) == len(theirs)
    assert committed(sessions, claim, "third", small) == mine  # free again, no attempt counted
    with sessions() as session:
        attempts = set(session.scalars(select(Delivery.attempts).where(Delivery.id.in_(mine))))
    assert attempts == {0}


def test_a_workers_cursor_still_finds_what_was_released_behind_it(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer
) -> None:
    """Claims go on from where the worker left the queue; at its end they
    look once more from the start, for batches released meanwhile."""
    started(sessions, small, renderer)
    cursor: dict[int, int] = {}
    first = committed(sessions, claim, "w", small, cursor=cursor)
    second = committed(sessions, claim, "w", small, cursor=cursor)
    assert first == [1, 2, 3] and second == [4, 5, 6] and cursor == {1: 6}
    committed(sessions, release, "w", first)
    third = committed(sessions, claim, "w", small, cursor=cursor)
    assert third == [7, 8, 1]  # the rest of the queue, then from the start
    fourth = committed(sessions, claim, "w", small, cursor=cursor)
    assert fourth == [2, 3]
    assert committed(sessions, claim, "w", small, cursor=cursor) == []


def test_a_claimed_batch_is_read_as_its_subscribers_are_now(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer
) -> None:
    """Who left or was suppressed after the claim is not sent to: the
    delivery becomes suppressed, and the rest of the batch is read."""
    started(sessions, small, renderer)
    ids = sorted(committed(sessions, claim, "w", small))
    with sessions.begin() as session:
        emails = dict(
            session.execute(
                select(Delivery.id, Subscriber.email)
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Delivery.id.in_(ids))
            ).all()
        )
        session.execute(
            update(Subscriber)
            .where(Subscriber.email == emails[ids[0]])
            .values(status=SubscriberStatus.UNSUBSCRIBED)
        )
        session.add(Suppression(email=emails[ids[1]], reason="manual"))
    batch = committed(sessions, claimed_batch, "w", ids)
    assert [c.delivery_id for c in batch.deliveries] == ids[2:]
    assert batch.deliveries[0].recipient.email == emails[ids[2]]
    assert batch.suppressed == 2
    with sessions() as session:
        rows = session.execute(
            select(Delivery.status, Delivery.lease_owner).where(Delivery.id.in_(ids[:2]))
        ).all()
    assert rows == [(DeliveryStatus.SUPPRESSED, None)] * 2


def test_a_claimed_batch_of_a_paused_edition_is_released(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer
) -> None:
    started(sessions, small, renderer)
    ids = committed(sessions, claim, "w", small)
    set_paused(sessions, W48, small, paused=True)
    batch = committed(sessions, claimed_batch, "w", ids)
    assert (batch.deliveries, batch.suppressed) == ([], 0)
    assert leased(sessions) == 0
    assert committed(sessions, claim, "w", small) == []  # a paused edition is not claimed
