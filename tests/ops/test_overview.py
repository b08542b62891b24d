"""The store's figures as ``/metrics`` shows them, parsed as Prometheus
text and checked against the store, on both stores."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.opsworld import client_for, store_mid_send
from worker.config import Settings
from worker.domain.states import DeliveryStatus, EditionStatus, SubscriberStatus
from worker.store.models import Delivery, Edition, Subscriber

SAMPLE_RE = re.compile(
    r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r'(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)\})?'
    r" (?P<value>[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))"
)
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_exposition(text: str) -> Samples:
    """Prometheus text format 0.0.4, strictly: every line a HELP, a TYPE or
    a sample, every family declared (HELP, then TYPE) before its samples,
    no sample twice."""
    samples: Samples = {}
    declared: dict[str, str] = {}
    helped: set[str] = set()
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP ") :].partition(" ")
            assert help_text and name not in helped, line
            helped.add(name)
        elif line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE ") :].partition(" ")
            assert name in helped and name not in declared, line
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            declared[name] = kind
        else:
            found = SAMPLE_RE.fullmatch(line)
            assert found, f"not a sample line: {line!r}"
            assert found["name"] in declared, line
            labels = frozenset(LABEL_RE.findall(found["labels"] or ""))
            key = (found["name"], labels)
            assert key not in samples, line
            samples[key] = float(found["value"])
    return samples


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_metrics_parse_as_prometheus_text_and_match_the_store(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    world = store_mid_send(sessions, settings)
    answer = client_for(settings, sessions).get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse_exposition(answer.get_data(as_text=True))

    with sessions() as session:
        by_status = dict(
            session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
        )
        subscribers = dict(
            session.execute(
                select(Subscriber.status, func.count()).group_by(Subscriber.status)
            ).all()
        )
    for status in DeliveryStatus:
        expected = by_status.get(status, 0)
        assert sample(samples, "digest_deliveries", edition="2026-W48", status=status) == expected
    assert [by_status.get(s, 0) for s in ("sent", "failed", "deferred", "queued")] == [3, 1, 2, 1]
    # W47 is finished: its figures are left to digest status.
    assert not [k for k in samples if ("edition", "2026-W47") in k[1]]

    assert sample(samples, "digest_queue_depth") == 2  # one queued, one deferred and due
    lag = sample(samples, "digest_queue_lag_seconds")
    waited = (dt.datetime.now(dt.UTC) - world["started"]).total_seconds()  # type: ignore[operator]
    assert waited - 60 < lag <= waited  # the queued one, due since the edition started

    assert sample(samples, "digest_editions", status="sending") == 1
    assert sample(samples, "digest_editions", status="sent") == 1
    assert sample(samples, "digest_editions", status="ready") == 0  # another list's
    assert sum(v for (n, _), v in samples.items() if n == "digest_editions") == 2

    last = sample(samples, "digest_last_ingest_timestamp_seconds")
    assert math.isclose(last, world["fetched"].timestamp(), abs_tol=0.01)  # type: ignore[attr-defined]
    assert sample(samples, "digest_feeds_in_error") == 1  # the inactive one is not counted

    for status in SubscriberStatus:
        expected = subscribers.get(status, 0)
        assert sample(samples, "digest_subscribers", status=status) == expected
    assert sample(samples, "digest_subscribers", status="confirmed") == 8
    assert sample(samples, "digest_suppressions", reason="manual") == 2
    assert sample(samples, "digest_suppressions", reason="complaint") == 1
    assert sample(samples, "digest_suppressions", reason="hard_bounce") == 0


def test_lag_follows_the_oldest_due_retry_and_figures_follow_the_edition(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    world = store_mid_send(sessions, settings)
    with sessions.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.status == DeliveryStatus.QUEUED)
            .values(status=DeliveryStatus.SENT)
        )
    samples = parse_exposition(client_for(settings, sessions).get("/metrics").get_data(True))
    assert sample(samples, "digest_queue_depth") == 1
    waited = (dt.datetime.now(dt.UTC) - world["due"]).total_seconds()  # type: ignore[operator]
    assert waited - 60 < sample(samples, "digest_queue_lag_seconds") <= waited

    with sessions.begin() as session:
        session.execute(
            update(Edition).where(Edition.week == "2026-W48").values(status=EditionStatus.PAUSED)
        )
    samples = parse_exposition(client_for(settings, sessions).get("/metrics").get_data(True))
    assert sample(samples, "digest_queue_depth") == 0  # a paused edition is not claimable
    assert sample(samples, "digest_queue_lag_seconds") == 0
    assert sample(samples, "digest_deliveries", edition="2026-W48", status="sent") == 4

    with sessions.begin() as session:
        session.execute(
            update(Edition).where(Edition.week == "2026-W48").values(status=EditionStatus.SENT)
        )
    samples = parse_exposition(client_for(settings, sessions).get("/metrics").get_data(True))
    assert not [k for k in samples if k[0] == "digest_deliveries"]  # final: see digest status
    assert sample(samples, "digest_editions", status="sent") == 2


def test_waves_still_to_come_are_neither_queue_nor_lag(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """Each reader's morning: a queued delivery is claimable, and waits,
    from its due time on."""
    store_mid_send(sessions, settings)
    now = dt.datetime.now(dt.UTC)
    with sessions.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.status == DeliveryStatus.DEFERRED)
            .values(status=DeliveryStatus.SENT)
        )
        queued = session.scalars(select(Delivery.id).where(Delivery.status == "queued")).one()
        session.execute(
            update(Delivery).where(Delivery.id == queued).values(due_at=now + dt.timedelta(hours=3))
        )
    samples = parse_exposition(client_for(settings, sessions).get("/metrics").get_data(True))
    assert sample(samples, "digest_queue_depth") == 0
    assert sample(samples, "digest_queue_lag_seconds") == 0
    with sessions.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == queued)
            .values(due_at=now - dt.timedelta(minutes=20))
        )
    samples = parse_exposition(client_for(settings, sessions).get("/metrics").get_data(True))
    assert sample(samples, "digest_queue_depth") == 1
    assert 20 * 60 <= sample(samples, "digest_queue_lag_seconds") < 25 * 60


def test_metrics_of_an_empty_store_are_zeros(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    samples = parse_exposition(client_for(settings, sessions).get("/metrics").get_data(True))
    assert not [k for k in samples if k[0] == "digest_deliveries"]
    assert sample(samples, "digest_queue_lag_seconds") == 0
    assert sample(samples, "digest_last_ingest_timestamp_seconds") == 0
    assert all(v == 0 for v in samples.values())


def test_metrics_token_guards_the_endpoint(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:

    guarded = client_for(dataclasses.replace(settings, metrics_token="scrape-me-0451"), sessions)
    refused = guarded.get("/metrics")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    taken = guarded.get("/metrics", headers={"Authorization": "Bearer scrape-me-0451"})
    assert taken.status_code == 200 and "digest_queue_depth 0" in taken.get_data(as_text=True)
    assert guarded.get("/healthz").status_code == 200  # the platform's probe needs no token
