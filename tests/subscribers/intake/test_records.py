"""The intake: each event applied once, whatever its source and however
often it arrives."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.consent import unsuppress
from subscribers.intake.records import IntakeRecord, IntakeSummary, address, apply
from worker.domain.states import SubscriberStatus
from worker.domain.suppression import IntakeKind
from worker.store.models import IntakeEvent, Subscriber, Suppression


def add_subscriber(
    sessions: sessionmaker[Session], email: str, status: str = SubscriberStatus.CONFIRMED
) -> int:
    with sessions.begin() as session:
        subscriber = Subscriber(email=email, status=status)
        session.add(subscriber)
        session.flush()
        return subscriber.id


def record(
    kind: IntakeKind, email: str | None, key: str, subscriber_id: int | None = None
) -> IntakeRecord:
    return IntakeRecord(
        "test", key, kind, email, detail=f"{kind} detail", subscriber_id=subscriber_id
    )


def run(sessions: sessionmaker[Session], *records: IntakeRecord, limit: int = 3) -> IntakeSummary:
    with sessions.begin() as session:
        return apply(session, records, soft_bounce_limit=limit)


def subscriber(sessions: sessionmaker[Session], email: str) -> Subscriber:
    with sessions() as session:
        found = session.scalar(select(Subscriber).where(Subscriber.email == email))
        assert found is not None
        return found


def suppression(sessions: sessionmaker[Session], email: str) -> str | None:
    with sessions() as session:
        return session.scalar(select(Suppression.reason).where(Suppression.email == email))


def test_a_hard_bounce_suppresses_and_marks_the_subscriber_bounced(
    sessions: sessionmaker[Session],
) -> None:
    add_subscriber(sessions, "ada@example.org")
    summary = run(sessions, record(IntakeKind.HARD_BOUNCE, "ada@example.org", "m1 ada"))
    assert summary.applied == {IntakeKind.HARD_BOUNCE: 1}
    assert summary.suppressed == 1 and summary.unknown == 0
    assert subscriber(sessions, "ada@example.org").status == SubscriberStatus.BOUNCED
    assert suppression(sessions, "ada@example.org") == "hard_bounce"


def test_an_event_applies_once_however_often_it_arrives(sessions: sessionmaker[Session]) -> None:
    add_subscriber(sessions, "ada@example.org")
    bounce = record(IntakeKind.HARD_BOUNCE, "ada@example.org", "m1 ada")
    run(sessions, bounce)
    with sessions.begin() as session:  # the operator takes the address back
        unsuppress(session, "ada@example.org")
    again = run(sessions, bounce, bounce)
    assert again.applied == {} and again.already_seen == 2
    assert suppression(sessions, "ada@example.org") is None
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(IntakeEvent)) == 1


def test_the_same_key_from_another_source_is_another_event(
    sessions: sessionmaker[Session],
) -> None:
    first = record(IntakeKind.OTHER, "ada@example.org", "shared-key")
    second = IntakeRecord("elsewhere", "shared-key", IntakeKind.OTHER, "ada@example.org")
    assert run(sessions, first, second).applied == {IntakeKind.OTHER: 2}


def test_a_complaint_suppresses_and_unsubscribes(sessions: sessionmaker[Session]) -> None:
    add_subscriber(sessions, "linus@example.com")
    summary = run(sessions, record(IntakeKind.COMPLAINT, "linus@example.com", "c1"))
    assert summary.applied == {IntakeKind.COMPLAINT: 1} and summary.suppressed == 1
    found = subscriber(sessions, "linus@example.com")
    assert found.status == SubscriberStatus.UNSUBSCRIBED and found.unsubscribed_at is not None
    assert suppression(sessions, "linus@example.com") == "complaint"


def test_soft_bounces_count_and_suppress_at_the_limit(sessions: sessionmaker[Session]) -> None:
    add_subscriber(sessions, "grace@example.net")
    for n in (1, 2):
        run(sessions, record(IntakeKind.SOFT_BOUNCE, "grace@example.net", f"s{n}"))
    assert subscriber(sessions, "grace@example.net").soft_bounces == 2
    assert suppression(sessions, "grace@example.net") is None
    summary = run(sessions, record(IntakeKind.SOFT_BOUNCE, "grace@example.net", "s3"))
    assert summary.suppressed == 1
    assert suppression(sessions, "grace@example.net") == "soft_bounces"
    # A soft bounce is not a hard fact: the subscriber's own state stays.
    assert subscriber(sessions, "grace@example.net").status == SubscriberStatus.CONFIRMED


def test_a_delivery_resets_the_soft_bounce_count(sessions: sessionmaker[Session]) -> None:
    add_subscriber(sessions, "grace@example.net")
    run(
        sessions,
        record(IntakeKind.SOFT_BOUNCE, "grace@example.net", "s1"),
        record(IntakeKind.SOFT_BOUNCE, "grace@example.net", "s2"),
        record(IntakeKind.DELIVERED, "grace@example.net", "d1"),
        record(IntakeKind.SOFT_BOUNCE, "grace@example.net", "s3"),
        record(IntakeKind.SOFT_BOUNCE, "grace@example.net", "s4"),
    )
    assert subscriber(sessions, "grace@example.net").soft_bounces == 2
    assert suppression(sessions, "grace@example.net") is None


def test_the_limit_is_the_setting_given(sessions: sessionmaker[Session]) -> None:
    add_subscriber(sessions, "grace@example.net")
    summary = run(sessions, record(IntakeKind.SOFT_BOUNCE, "grace@example.net", "s1"), limit=1)
    assert summary.suppressed == 1


def test_an_unsubscribe_by_subscriber_id(sessions: sessionmaker[Session]) -> None:
    subscriber_id = add_subscriber(sessions, "margaret@example.org")
    summary = run(sessions, record(IntakeKind.UNSUBSCRIBE, None, "u1", subscriber_id=subscriber_id))
    assert summary.applied == {IntakeKind.UNSUBSCRIBE: 1} and summary.suppressed == 0
    assert subscriber(sessions, "margaret@example.org").status == SubscriberStatus.UNSUBSCRIBED
    with sessions() as session:
        event = session.scalar(select(IntakeEvent))
        assert event is not None and event.email == "margaret@example.org"


def test_a_hard_bounce_leaves_an_unsubscribed_subscriber_unsubscribed(
    sessions: sessionmaker[Session],
) -> None:
    add_subscriber(sessions, "ada@example.org", SubscriberStatus.UNSUBSCRIBED)
    run(sessions, record(IntakeKind.HARD_BOUNCE, "ada@example.org", "m1"))
    assert subscriber(sessions, "ada@example.org").status == SubscriberStatus.UNSUBSCRIBED
    assert suppression(sessions, "ada@example.org") == "hard_bounce"


def test_events_for_unknown_addresses_are_recorded(sessions: sessionmaker[Session]) -> None:
    summary = run(
        sessions,
        record(IntakeKind.HARD_BOUNCE, "stranger@example.org", "h"),
        record(IntakeKind.SOFT_BOUNCE, "stranger@example.org", "s"),
        record(IntakeKind.UNSUBSCRIBE, None, "u", subscriber_id=999),
    )
    assert summary.unknown == 3
    assert sum(summary.applied.values()) == 3
    # The address itself is what bounced: it is kept off every future send.
    assert suppression(sessions, "stranger@example.org") == "hard_bounce"
    with sessions() as session:
        kinds = session.scalars(select(IntakeEvent.kind).order_by(IntakeEvent.id)).all()
    assert kinds == ["hard_bounce", "soft_bounce", "unsubscribe"]


def test_a_key_too_long_for_the_column_is_hashed_and_still_unique(
    sessions: sessionmaker[Session],
) -> None:
    long_key = "x" * 500
    bounce = record(IntakeKind.OTHER, "ada@example.org", long_key)
    assert run(sessions, bounce).applied == {IntakeKind.OTHER: 1}
    assert run(sessions, bounce).already_seen == 1
    with sessions() as session:
        key = session.scalar(select(IntakeEvent.event_key))
    assert key is not None and key.startswith("sha256:") and len(key) <= 300


def test_raw_payloads_are_capped_and_lose_nul_characters(sessions: sessionmaker[Session]) -> None:
    big = IntakeRecord("test", "big", IntakeKind.OTHER, None, raw="a\x00b" + "c" * 100_000)
    run(sessions, big)
    with sessions() as session:
        raw = session.scalar(select(IntakeEvent.raw))
    assert raw is not None and raw.startswith("a\ufffdb") and len(raw) < 70_000


def test_addresses_are_normalised_where_they_can_be() -> None:
    assert address("Ada <ADA@Example.ORG>") == "ada@example.org"
    assert address("ada@bücher.example") == "ada@xn--bcher-kva.example"
    assert address("  <Not An Address>  ") == "not an address"


def test_an_address_suppressed_already_is_not_counted_again(
    sessions: sessionmaker[Session],
) -> None:
    add_subscriber(sessions, "ada@example.org")
    run(sessions, record(IntakeKind.HARD_BOUNCE, "ada@example.org", "m1"))
    summary = run(sessions, record(IntakeKind.COMPLAINT, "ada@example.org", "c1"))
    assert summary.applied == {IntakeKind.COMPLAINT: 1} and summary.suppressed == 0
    assert suppression(sessions, "ada@example.org") == "hard_bounce"


def test_a_report_about_one_subscriber_cannot_speak_for_another_address(
    sessions: sessionmaker[Session],
) -> None:
    grace = add_subscriber(sessions, "grace@example.net")
    add_subscriber(sessions, "ada@example.org")
    # Proven to be about grace's message, but naming ada: recorded, no effect.
    mismatch = record(IntakeKind.HARD_BOUNCE, "ada@example.org", "m1", subscriber_id=grace)
    gone = record(IntakeKind.HARD_BOUNCE, "stranger@example.org", "m2", subscriber_id=999)
    summary = run(sessions, mismatch, gone)
    assert summary.applied == {IntakeKind.OTHER: 2} and summary.suppressed == 0
    assert subscriber(sessions, "ada@example.org").status == SubscriberStatus.CONFIRMED
    assert suppression(sessions, "ada@example.org") is None
    assert suppression(sessions, "stranger@example.org") is None
    with sessions() as session:
        events = session.execute(
            select(IntakeEvent.kind, IntakeEvent.email, IntakeEvent.detail).order_by(IntakeEvent.id)
        ).all()
    assert [(kind, email) for kind, email, _ in events] == [
        ("other", "ada@example.org"),
        ("other", "stranger@example.org"),
    ]
    assert events[0].detail == (
        f"hard_bounce ignored: the message it is about went to subscriber #{grace}, not to it; "
        "hard_bounce detail"
    )
    assert events[1].detail.startswith("hard_bounce ignored: subscriber #999 is no longer stored")
    # Naming the subscriber's own address, the same report takes effect.
    run(sessions, record(IntakeKind.HARD_BOUNCE, "grace@example.net", "m3", subscriber_id=grace))
    assert suppression(sessions, "grace@example.net") == "hard_bounce"
