"""Each reader's morning (DIGEST_SEND_LOCAL): deliveries dated per reader
zone when an edition starts, claims that take only what is due, an edition
sent only after its last wave, and the claim's plan at a million
deliveries on PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time

import pytest
from sqlalchemy import ScalarSelect, event, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.sample import W48, build_sample_week
from tests.support.sending import committed
from worker.config import Settings
from worker.deliver.claims import claim, next_due
from worker.deliver.editions import cancel_edition, set_paused, start_edition
from worker.deliver.results import finish_if_done
from worker.deliver.runner import Worker
from worker.domain.states import DeliveryStatus, EditionStatus
from worker.mail import backend_from_url
from worker.mail.base import OutgoingMessage
from worker.render.renderer import Renderer
from worker.store import store_now
from worker.store.models import Delivery, Edition, Subscriber

UTC = dt.UTC
# Sunday 1 November 2026, 09:00 in Berlin (UTC+1 since 25 October). Los
# Angeles falls back from UTC-7 to UTC-8 that morning at 09:00 UTC, after
# the edition starts (Saturday 19:00 UTC, Kiritimati's 09:00): its
# readers' 09:00 is PST, 17:00 UTC, not the 16:00 the offset at the start
# would give.
SEND_AT = dt.datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
ZONES = {
    "reader-kiritimati@example.com": "Pacific/Kiritimati",
    "reader-berlin@example.com": "Europe/Berlin",
    "reader-la@example.com": "America/Los_Angeles",
    "reader-nozone@example.com": None,
    "reader-oldtz@example.com": "Mars/Olympus_Mons",
}
MORNINGS = {
    "reader-kiritimati@example.com": dt.datetime(2026, 10, 31, 19, 0, tzinfo=UTC),
    "reader-berlin@example.com": dt.datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
    "reader-la@example.com": dt.datetime(2026, 11, 1, 17, 0, tzinfo=UTC),
    # No zone, or one this machine does not know: the list's (Berlin).
    "reader-nozone@example.com": dt.datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
    "reader-oldtz@example.com": dt.datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
}


@pytest.fixture
def local(small: Settings) -> Settings:
    return dataclasses.replace(small, digest_send_local=True)


def zoned_readers(sessions: sessionmaker[Session], settings: Settings, renderer: Renderer) -> None:
    """The sample week built for five readers, in the zones of ZONES."""
    build_sample_week(sessions, settings, renderer)
    with sessions.begin() as session:
        session.execute(update(Subscriber).values(status="unsubscribed"))
        for email, zone in ZONES.items():
            session.add(Subscriber(email=email, status="confirmed", timezone=zone))


def due_times(sessions: sessionmaker[Session]) -> dict[str, dt.datetime | None]:
    with sessions() as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.due_at).join(
                Delivery, Delivery.subscriber_id == Subscriber.id
            )
        ).all()
    return dict(rows)  # type: ignore[arg-type]


def emails_of(sessions: sessionmaker[Session], ids: list[int]) -> set[str]:
    with sessions() as session:
        return set(
            session.scalars(
                select(Subscriber.email)
                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .where(Delivery.id.in_(ids))
            )
        )


def test_each_reader_is_due_at_their_own_wall_clock_time(
    sessions: sessionmaker[Session],
    local: Settings,
    renderer: Renderer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    zoned_readers(sessions, local, renderer)
    with caplog.at_level(logging.WARNING, "worker.editions"):
        counts = start_edition(sessions, W48, local, send_at=SEND_AT)
    assert counts.started and counts.queued == 5
    assert due_times(sessions) == MORNINGS
    assert any(getattr(r, "zone", None) == "Mars/Olympus_Mons" for r in caplog.records)


@pytest.mark.parametrize("setting", [False, True], ids=["off", "on-without-a-send-time"])
def test_off_or_without_a_send_time_everyone_is_due_now(
    sessions: sessionmaker[Session], small: Settings, renderer: Renderer, setting: bool
) -> None:
    settings = dataclasses.replace(small, digest_send_local=setting)
    zoned_readers(sessions, settings, renderer)
    send_at = None if setting else SEND_AT
    start_edition(sessions, W48, settings, send_at=send_at)
    assert set(due_times(sessions).values()) == {None}


def test_claims_take_each_wave_when_it_is_due_and_the_edition_waits_for_the_last(
    sessions: sessionmaker[Session], local: Settings, renderer: Renderer
) -> None:
    zoned_readers(sessions, local, renderer)
    start_edition(sessions, W48, local, send_at=SEND_AT)
    start = MORNINGS["reader-kiritimati@example.com"]
    waves = []
    for moment in (
        start - dt.timedelta(minutes=1),
        start,
        dt.datetime(2026, 11, 1, 7, 59, tzinfo=UTC),
        dt.datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
        dt.datetime(2026, 11, 1, 16, 59, tzinfo=UTC),
        dt.datetime(2026, 11, 1, 17, 0, tzinfo=UTC),
    ):
        ids = committed(sessions, claim, "w", local, now=moment)
        waves.append(emails_of(sessions, ids))
        with sessions.begin() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids))
                .values(status=DeliveryStatus.SENT, lease_owner=None)
            )
        done = finish_if_done(sessions, 1)
        assert done == (moment.hour == 17), moment  # sent after the last wave only
    assert waves == [
        set(),
        {"reader-kiritimati@example.com"},
        set(),
        {"reader-berlin@example.com", "reader-nozone@example.com", "reader-oldtz@example.com"},
        set(),
        {"reader-la@example.com"},
    ]
    with sessions() as session:
        assert session.get_one(Edition, 1).status == EditionStatus.SENT


def test_pause_and_cancel_hold_back_every_wave(
    sessions: sessionmaker[Session], local: Settings, renderer: Renderer
) -> None:
    zoned_readers(sessions, local, renderer)
    start_edition(sessions, W48, local, send_at=SEND_AT)
    berlin_morning = dt.datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    set_paused(sessions, W48, local, paused=True)
    assert committed(sessions, claim, "w", local, now=berlin_morning) == []
    set_paused(sessions, W48, local, paused=False)
    # Resumed after their mornings: the waves due meanwhile go out at once.
    resumed = committed(sessions, claim, "w", local, now=berlin_morning)
    assert emails_of(sessions, resumed) == {
        "reader-kiritimati@example.com",
        "reader-berlin@example.com",
        "reader-nozone@example.com",
    }
    cancel_edition(sessions, W48, local)
    la_morning = dt.datetime(2026, 11, 1, 17, 0, tzinfo=UTC)
    assert committed(sessions, claim, "w", local, now=la_morning) == []


def test_an_edition_started_after_some_mornings_sends_those_at_once(
    sessions: sessionmaker[Session], local: Settings, renderer: Renderer
) -> None:
    zoned_readers(sessions, local, renderer)
    start_edition(sessions, W48, local, send_at=SEND_AT)
    # Claimed at 10:00 UTC: Kiritimati's and Berlin's mornings have passed.
    at_ten = dt.datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    ids = committed(sessions, claim, "w", dataclasses.replace(local, batch_size=10), now=at_ten)
    assert emails_of(sessions, ids) == set(ZONES) - {"reader-la@example.com"}


def test_an_idle_worker_knows_when_the_next_wave_comes(
    sessions: sessionmaker[Session], local: Settings, renderer: Renderer
) -> None:
    zoned_readers(sessions, local, renderer)
    with sessions() as session:
        assert next_due(session) is None  # nothing sending
    start_edition(sessions, W48, local, send_at=SEND_AT)
    with sessions() as session:
        # The store's clock is today's: these mornings of 2026-11-01 have
        # all passed, so no wave is still to come.
        assert next_due(session) is None
    later = dt.datetime.now(UTC) + dt.timedelta(hours=2)
    with sessions.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.subscriber_id == _subscriber_id("reader-la@example.com"))
            .values(due_at=later)
        )
    with sessions() as session:
        wait = next_due(session)
        assert wait is not None
        assert dt.timedelta(hours=1, minutes=59) < wait <= dt.timedelta(hours=2)
        assert next_due(session, edition_id=2) is None


def test_an_idle_worker_wakes_for_the_next_wave_not_at_its_next_poll(
    sessions: sessionmaker[Session],
    local: Settings,
    renderer: Renderer,
    outbox: list[OutgoingMessage],
) -> None:
    zoned_readers(sessions, local, renderer)
    start_edition(sessions, W48, local, send_at=SEND_AT)  # every morning has passed
    with sessions.begin() as session:
        # The Los Angeles reader's morning is two seconds away by the store's clock.
        coming = store_now(session) + dt.timedelta(seconds=2)
        session.execute(
            update(Delivery)
            .where(Delivery.subscriber_id == _subscriber_id("reader-la@example.com"))
            .values(due_at=coming)
        )
    stop = threading.Event()
    worker = Worker(sessions, local, backend_from_url("memory://"), "w", stop=stop)
    worker.poll_seconds = 600.0  # were it to poll, the test would time out
    running = threading.Thread(target=worker.run)
    running.start()
    try:
        deadline = time.monotonic() + 30
        while (sent_at := _sent_at(sessions, "reader-la@example.com")) is None:
            assert time.monotonic() < deadline, "the wave was not sent on time"
            time.sleep(0.05)
        assert sent_at >= coming
    finally:
        stop.set()
        running.join(timeout=30)
    assert len(outbox) == len(ZONES)  # once each


def _sent_at(sessions: sessionmaker[Session], email: str) -> dt.datetime | None:
    with sessions() as session:
        return session.scalar(
            select(Delivery.sent_at).where(Delivery.subscriber_id == _subscriber_id(email))
        )


def _subscriber_id(email: str) -> ScalarSelect[int]:
    return select(Subscriber.id).where(Subscriber.email == email).scalar_subquery()


MILLION = 1_000_000


@pytest.mark.slow
def test_the_claim_reads_only_due_deliveries_at_a_million_on_postgresql(
    pg_sessions: sessionmaker[Session], local: Settings, renderer: Renderer
) -> None:
    """A million queued deliveries in three waves, the first one due: every
    statement of the claim walks an index (the dated ones ix_delivery_due,
    from the edition's earliest due time), and none scans the table."""
    sessions = pg_sessions
    build_sample_week(sessions, local, renderer)
    start_edition(sessions, W48, local, send_at=SEND_AT)  # the sample's eight readers
    waves = list(MORNINGS.values())[:3]
    with sessions.begin() as session:
        session.execute(
            text(
                "INSERT INTO subscriber (email, status, categories, created_at, soft_bounces)"
                " SELECT 'bulk' || g || '@example.com', 'confirmed', '', now(), 0"
                " FROM generate_series(1, :n) AS g"
            ),
            {"n": MILLION},
        )
        session.execute(
            text(
                "INSERT INTO delivery (edition_id, subscriber_id, segment_id, status, attempts,"
                " due_at)"
                " SELECT 1, s.id, (SELECT min(id) FROM edition_segment), 'queued', 0,"
                " (ARRAY[:a, :b, :c]::timestamptz[])[1 + s.id % 3]"
                " FROM subscriber AS s WHERE s.email LIKE 'bulk%'"
            ),
            {"a": waves[0], "b": waves[1], "c": waves[2]},
        )
        session.execute(text("ANALYZE delivery"))
    settings = dataclasses.replace(local, batch_size=100)
    # Before the first wave nothing is due: three statements (retries, the
    # dated queue, the undated queue) and no delivery claimed.
    early, plans = claim_explained(sessions, settings, waves[0] - dt.timedelta(minutes=1))
    assert early == [] and len(plans) == 3
    assert "Index Scan using ix_delivery_queued on delivery" in plans[2]
    # In the first wave: a full batch from the dated queue.
    ids, wave = claim_explained(sessions, settings, waves[0] + dt.timedelta(minutes=1))
    assert len(ids) == settings.batch_size and len(wave) == 2
    shown = "\n\n".join(wave)
    print(f"\nthe claim's statements at a million deliveries, in the first wave:\n{shown}")
    for plan in (*plans, *wave):
        assert "Seq Scan" not in plan, plan
    for plan in (plans[0], wave[0]):
        assert "Index Scan using ix_delivery_deferred on delivery" in plan
    for plan in (plans[1], wave[1]):
        assert "Index Scan using ix_delivery_due on delivery" in plan


def claim_explained(
    sessions: sessionmaker[Session], settings: Settings, now: dt.datetime
) -> tuple[list[int], list[str]]:
    """A claim at ``now``, and the plan (EXPLAIN) of each UPDATE it ran."""
    engine = sessions.kw["bind"]
    statements: list[tuple[str, object]] = []

    def keep(*args: object) -> None:
        statement, parameters = args[2], args[3]
        if isinstance(statement, str) and statement.startswith("UPDATE delivery"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with sessions.begin() as session:
            ids = claim(session, "w", settings, now=now)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    plans = []
    with sessions.begin() as session:
        for statement, parameters in statements:
            rows = session.connection().exec_driver_sql(f"EXPLAIN {statement}", parameters)
            plans.append("\n".join(row[0] for row in rows))
    return ids, plans
