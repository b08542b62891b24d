"""What an operator watches: ``/healthz``, ``/metrics`` (parsed as Prometheus
text and checked against the store) and ``digest status``, on both stores."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from subscribers.csvio import import_csv
from subscribers.web import create_app
from support.commands import digest
from worker.config import PROJECT_ROOT, Settings
from worker.deliver.editions import build_edition, start_edition
from worker.domain.states import DeliveryStatus, EditionStatus, SubscriberStatus
from worker.domain.suppression import SuppressionReason
from worker.domain.weeks import Week
from worker.ingest.importer import import_file
from worker.ops.health import head_revision
from worker.render.renderer import Renderer
from worker.schedule.due import next_cron
from worker.store import CONNECT_TIMEOUT, make_engine, session_factory, upgrade
from worker.store.models import Delivery, Edition, Feed, Subscriber, Suppression

SAMPLE = PROJECT_ROOT / "sample"
W48 = Week(2026, 48)
NOW = dt.datetime.now(dt.UTC)


def client_for(settings: Settings, sessions: sessionmaker[Session]) -> FlaskClient:
    app: Flask = create_app(settings, sessions=sessions)
    app.config["TESTING"] = True
    return app.test_client()


# /healthz


def test_healthz_answers_ok_on_a_migrated_store(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    answer = client_for(settings, sessions).get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok"}
    assert answer.headers["Cache-Control"] == "no-store"


def test_healthz_answers_503_on_a_store_without_schema(settings: Settings, tmp_path: Path) -> None:
    empty = session_factory(make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}"))
    answer = client_for(settings, empty).get("/healthz")
    assert answer.status_code == 503
    assert answer.get_json() == {
        "status": "error",
        "problems": ["the store has no schema; run: digest db upgrade"],
    }


def test_healthz_answers_503_on_a_schema_behind_the_code(
    settings: Settings, tmp_path: Path
) -> None:
    from alembic.script import ScriptDirectory

    from worker.store import MIGRATIONS

    previous = ScriptDirectory(str(MIGRATIONS)).get_revision(head_revision()).down_revision
    assert isinstance(previous, str)
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    upgrade(engine, previous)
    answer = client_for(settings, session_factory(engine)).get("/healthz")
    assert answer.status_code == 503
    [problem] = answer.get_json()["problems"]
    assert problem == (
        f"the schema is at revision {previous}, this code expects {head_revision()}; "
        "run: digest db upgrade"
    )


def test_healthz_stays_ok_on_a_store_migrated_by_a_newer_release(
    settings: Settings, tmp_path: Path
) -> None:
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path / 'newer.sqlite3'}")
    upgrade(engine)
    with engine.begin() as connection:
        # What the next release's `digest db upgrade` leaves before this
        # (old) web process is replaced.
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    answer = client_for(settings, session_factory(engine)).get("/healthz")
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://digest:unreachable-pass-31@127.0.0.1:1/test",
        "sqlite:////nonexistent-directory/store.sqlite3",
    ],
)
def test_healthz_answers_503_on_an_unreachable_store_and_names_no_secret(
    settings: Settings, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    answer = client_for(settings, session_factory(make_engine(url))).get("/healthz")
    assert answer.status_code == 503
    assert answer.get_json() == {"status": "error", "problems": ["the store is unreachable"]}
    assert "unreachable-pass-31" not in answer.get_data(as_text=True) + caplog.text
    said = [r for r in caplog.records if r.getMessage() == "health check failed"]
    assert said and said[0].error  # type: ignore[attr-defined]  # the driver's words, logged


# /metrics

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


def metrics_world(sessions: sessionmaker[Session], settings: Settings) -> dict[str, object]:
    """A store mid-send: the week started two hours ago with deliveries in
    every state, an older edition sent, feeds good and bad, subscribers and
    suppressions of several kinds."""
    import_file(sessions, SAMPLE / "content.yaml")
    import_csv(sessions, SAMPLE / "subscribers.csv")
    build_edition(sessions, W48, settings, Renderer(settings.templates_dir))
    start_edition(sessions, W48, settings)
    started = NOW - dt.timedelta(hours=2)
    due = NOW - dt.timedelta(minutes=10)
    with sessions.begin() as session:
        session.execute(update(Edition).values(started_at=started))
        ids = list(session.scalars(select(Delivery.id).order_by(Delivery.id)))
        assert len(ids) == 8
        plan = [
            (DeliveryStatus.SENT, None),
            (DeliveryStatus.SENT, None),
            (DeliveryStatus.SENT, None),
            (DeliveryStatus.FAILED, None),
            (DeliveryStatus.DEFERRED, due),
            (DeliveryStatus.DEFERRED, NOW + dt.timedelta(hours=1)),
            (DeliveryStatus.SUPPRESSED, None),
        ]  # the eighth stays queued
        for delivery_id, (status, next_at) in zip(ids, plan, strict=False):
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(status=status, next_attempt_at=next_at)
            )
        session.add(
            Edition(
                list_id=settings.list_id,
                week="2026-W47",
                status=EditionStatus.SENT,
                started_at=NOW - dt.timedelta(days=7),
                sent_at=NOW - dt.timedelta(days=7),
            )
        )
        session.add(Edition(list_id="other-list", week="2026-W48", status=EditionStatus.READY))
        fetched = NOW - dt.timedelta(minutes=30)
        session.add_all(
            [
                Feed(url="https://a.example/feed", last_fetched_at=fetched - dt.timedelta(hours=1)),
                Feed(
                    url="https://b.example/feed",
                    last_fetched_at=fetched,
                    error_count=2,
                    last_error="HTTP 500",
                ),
                Feed(
                    url="https://c.example/feed",
                    active=False,
                    error_count=1,
                    last_error="HTTP 410: gone",
                ),
            ]
        )
        session.add_all(
            [
                Subscriber(email="new@example.com", status=SubscriberStatus.PENDING),
                Subscriber(email="left@example.com", status=SubscriberStatus.UNSUBSCRIBED),
                Suppression(email="x@example.com", reason=SuppressionReason.COMPLAINT),
                Suppression(email="y@example.com", reason=SuppressionReason.MANUAL),
                Suppression(email="z@example.com", reason=SuppressionReason.MANUAL),
            ]
        )
    return {"started": started, "due": due, "fetched": fetched}


def test_metrics_parse_as_prometheus_text_and_match_the_store(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    world = metrics_world(sessions, settings)
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
    world = metrics_world(sessions, settings)
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
    import dataclasses

    guarded = client_for(dataclasses.replace(settings, metrics_token="scrape-me-0451"), sessions)
    refused = guarded.get("/metrics")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    taken = guarded.get("/metrics", headers={"Authorization": "Bearer scrape-me-0451"})
    assert taken.status_code == 200 and "digest_queue_depth 0" in taken.get_data(as_text=True)
    assert guarded.get("/healthz").status_code == 200  # the platform's probe needs no token


# digest status


def test_status_shows_schedule_editions_feeds_and_mail(
    settings: Settings, sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    metrics_world(sessions, settings)
    with sessions.begin() as session:
        session.add(
            Edition(
                list_id=settings.list_id,
                week="2026-W49",
                status=EditionStatus.READY,
                held_by="editor-ines",
                held_at=NOW,
            )
        )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MAIL_URL": f"file://{tmp_path / 'outbox'}",
        "DIGEST_TIMEZONE": "Europe/Berlin",
        "DIGEST_SEND_AT": "tue 09:00",
    }
    done = digest(env, "status")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Schedule (times in Europe/Berlin)" in out
    send_at = next_cron("tue 09:00", settings, dt.datetime.now(dt.UTC))
    assert f"send      {send_at.astimezone(ZoneInfo('Europe/Berlin')):%a %Y-%m-%d} 09:00" in out
    for job in ("ingest", "build", "retries", "prune"):
        assert re.search(rf"^\s+{job}\s+\w{{3}} \d{{4}}-\d\d-\d\d \d\d:\d\d\s*$", out, re.M), job
    w48 = next(line for line in out.splitlines() if "2026-W48" in line).split()
    assert w48[:7] == ["2026-W48", "sending", "1", "3", "2", "1", "1"]
    assert "2026-W47" in out and "editor-ines" in out
    assert re.search(r"https://b\.example/feed +\S+ \d\d:\d\d +— +2 +HTTP 500", out)
    assert "https://c.example/feed (inactive)" in out
    assert f"Mail backend file://{tmp_path / 'outbox'}: ok: {tmp_path / 'outbox'} does not" in out

    as_json = digest(env, "status", "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["timezone"] == "Europe/Berlin"
    send = next(run for run in report["schedule"] if run["job"] == "send")
    assert dt.datetime.fromisoformat(send["at"]) == send_at
    assert (
        dt.datetime.fromisoformat(send["at"]).utcoffset()
        == send_at.astimezone(ZoneInfo("Europe/Berlin")).utcoffset()
    )
    weeks = [e["week"] for e in report["editions"]]
    assert weeks == ["2026-W49", "2026-W48", "2026-W47"]
    w48_json = report["editions"][1]
    assert {k: w48_json[k] for k in ("status", "queued", "sent", "deferred", "failed")} == {
        "status": "sending",
        "queued": 1,
        "sent": 3,
        "deferred": 2,
        "failed": 1,
    }
    assert report["editions"][0]["held_by"] == "editor-ines"
    failing = next(f for f in report["feeds"] if f["url"] == "https://b.example/feed")
    assert failing["last_error"] == "HTTP 500" and failing["error_count"] == 2
    assert report["mail"]["ok"] is True

    week = digest(env, "status", "--week", "2026-W48", "--json")
    assert week.returncode == 0, week.stderr
    counts = json.loads(week.stdout)
    assert counts["week"] == "2026-W48" and counts["sent"] == 3 and counts["suppressed"] == 1


def test_status_says_when_the_mail_backend_fails_and_never_shows_its_password(
    engine: Engine, database_url: str
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MAIL_URL": "smtp://mailer:status-pass-2718@127.0.0.1:1?starttls=off",
    }
    done = digest(env, "status")
    assert done.returncode == 0, done.stderr
    assert "Mail backend smtp://mailer:***@127.0.0.1:1?starttls=off: failing: cannot" in done.stdout
    assert "(none yet)" in done.stdout
    assert "status-pass-2718" not in done.stdout + done.stderr
    report = json.loads(digest(env, "status", "--json").stdout)
    assert report["mail"]["ok"] is False
    assert report["mail"]["detail"].startswith("cannot connect or log in")


def connect_parameters(url: str) -> dict[str, object]:
    """What make_engine's engine for ``url`` hands the driver on connecting."""
    engine = make_engine(url)
    seen: dict[str, object] = {}

    @event.listens_for(engine, "do_connect")
    def record(_dialect: object, _record: object, _args: object, params: dict) -> None:
        seen.update(params)

    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()
    return seen


def test_a_postgresql_engine_gives_up_connecting_after_a_timeout(pg_engine: Engine) -> None:
    # Without one, /healthz, the clock and a stopping worker hang for about
    # two minutes on a host that drops packets.
    url = pg_engine.url.render_as_string(hide_password=False)
    assert connect_parameters(url)["connect_timeout"] == CONNECT_TIMEOUT
    assert connect_parameters(f"{url}&connect_timeout=3")["connect_timeout"] == "3"
