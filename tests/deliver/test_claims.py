"""Claims: deliveries claimed in batches under a lease, renewed, released,
and read with their recipients as they are at that moment."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from support.sending import W48, built
from worker.config import Settings
from worker.deliver.claims import claim_batch, lease_batch, release_batch, take_batch
from worker.deliver.editions import start_edition
from worker.render.renderer import Renderer


def test_a_crashed_workers_lease_expires_and_its_batch_is_claimed_again(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer
) -> None:
    built(sessions, small, renderer)
    start_edition(sessions, W48, small)
    now = dt.datetime.now(dt.UTC)
    first, _ = claim_batch(sessions, "dead-worker", small, now=now)
    second, _ = claim_batch(sessions, "live-worker", small, now=now)
    assert {c.delivery_id for c in first}.isdisjoint(c.delivery_id for c in second)
    later = now + dt.timedelta(seconds=small.lease_seconds + 1)
    reclaimed, _ = claim_batch(sessions, "live-worker", small, now=later)
    assert [c.delivery_id for c in reclaimed] == [c.delivery_id for c in first]


def test_a_batch_leased_ahead_leaves_out_what_another_worker_took(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer
) -> None:
    built(sessions, small, renderer)
    start_edition(sessions, W48, small)
    now = dt.datetime.now(dt.UTC)
    ahead = lease_batch(sessions, "slowpoke", small)
    later = now + dt.timedelta(seconds=small.lease_seconds + 1)
    taken, _ = claim_batch(sessions, "other", small, now=later)  # the lease ran out
    assert [c.delivery_id for c in taken] == ahead
    mine, _ = take_batch(sessions, "slowpoke", ahead, small)
    assert mine == []


def test_a_workers_cursor_still_finds_what_was_handed_back_behind_it(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer
) -> None:
    """Claims go on from where the worker left the queue; at its end they
    look once more from the start, for batches handed back meanwhile."""
    built(sessions, small, renderer)
    start_edition(sessions, W48, small)
    cursor: dict[int, int] = {}
    first = lease_batch(sessions, "w", small, cursor=cursor)
    second = lease_batch(sessions, "w", small, cursor=cursor)
    assert first == [1, 2, 3] and second == [4, 5, 6] and cursor == {1: 6}
    release_batch(sessions, "w", first)
    third = lease_batch(sessions, "w", small, cursor=cursor)
    assert third == [7, 8, 1]  # the rest of the queue, then from the start
    fourth = lease_batch(sessions, "w", small, cursor=cursor)
    assert fourth == [2, 3]
    assert lease_batch(sessions, "w", small, cursor=cursor) == []
