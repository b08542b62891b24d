"""The delivery engine against misbehaving servers and dying workers:
every subscriber ends sent or failed as they should, and nobody gets a
second copy except from the in-flight batch of a worker killed with SIGKILL."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.sample import W48, load_content
from tests.support.sending import leased
from tests.support.smtpserver import Handler
from worker.config import Settings
from worker.deliver.editions import build_edition, edition_counts, start_edition
from worker.deliver.runner import Worker
from worker.mail import backend_from_url
from worker.render.renderer import Renderer
from worker.store import store_now
from worker.store.models import Delivery, Subscriber, Suppression


def subscribe(sessions: sessionmaker[Session], count: int) -> list[str]:
    emails = [f"reader{n:05d}@example.com" for n in range(count)]
    with sessions.begin() as session:
        session.execute(
            insert(Subscriber),
            [{"email": e, "status": "confirmed", "categories": ""} for e in emails],
        )
    return emails


def started(sessions: sessionmaker[Session], settings: Settings, subscribers: int) -> list[str]:
    load_content(sessions)
    emails = subscribe(sessions, subscribers)
    build_edition(sessions, W48, settings, Renderer(settings.templates_dir))
    start_edition(sessions, W48, settings)
    return emails


def test_a_faulty_server_ends_each_recipient_where_it_should(
    sessions: sessionmaker[Session], settings: Settings, handler: Handler, smtp_port: int
) -> None:
    quick = dataclasses.replace(
        settings, batch_size=4, max_attempts=3, retry_base_seconds=0, retry_cap_seconds=0
    )
    emails = started(sessions, quick, 12)
    busy_twice, unknown, always_busy, dropped, stalled, rejected = emails[1:7]
    handler.script = {
        busy_twice: ["451 4.3.0 try again", "421 4.7.0 too busy"],
        unknown: ["550 5.1.1 <x>: Recipient address rejected: User unknown"],
        always_busy: ["451 4.3.0 try again"] * 10,
        dropped: ["drop"],
        stalled: ["stall"],
        rejected: ["554 5.7.1 rejected as spam"],
    }
    handler.stall_seconds = 2.0
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off&timeout=1")
    report = Worker(sessions, quick, backend, "w").run(until_idle=True)

    with sessions() as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.status, Delivery.attempts, Delivery.last_code).join(
                Delivery, Delivery.subscriber_id == Subscriber.id
            )
        ).all()
        suppressed = list(session.scalars(select(Suppression.email)))
    state = {email: (status, attempts, code) for email, status, attempts, code in rows}
    assert state[busy_twice] == ("sent", 3, None)
    assert state[unknown] == ("failed", 1, 550)
    assert state[always_busy] == ("failed", 3, 451)
    assert state[dropped] == ("sent", 1, None)  # reconnected and resent at once
    assert state[stalled] == ("sent", 2, None)  # timed out, deferred, then retried
    assert state[rejected] == ("failed", 1, 554)
    others = [e for e in emails if e not in handler.script]
    assert all(state[e] == ("sent", 1, None) for e in others)
    assert suppressed == [unknown]
    delivered = Counter(r for e in handler.envelopes for r in e.rcpt_tos)
    assert set(delivered) == set(emails) - {unknown, always_busy, rejected}
    assert max(delivered.values()) == 1
    assert (report.sent, report.failed) == (9, 3)
    assert edition_counts(sessions, 1).status == "sent"


def wait_for_leases_to_run_out(sessions: sessionmaker[Session], timeout: float = 15) -> None:
    """Return once no delivery's lease is running by the store's clock (what
    a claim measures it by), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with sessions() as session:
            now = store_now(session)
            running = session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.lease_expires_at >= now)
            )
        if not running:
            return
        assert time.monotonic() < deadline, f"{running} leases still running after {timeout} s"
        time.sleep(0.05)


def worker_process(database_url: str, port: int, name: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker", "worker", "--once", "--id", name],
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "MAIL_URL": f"smtp://127.0.0.1:{port}?starttls=off",
            "SECRET_KEY": "test-secret-key",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def message_ids(handler: Handler) -> Counter[str]:
    ids: Counter[str] = Counter()
    for envelope in handler.envelopes:
        head = envelope.original_content.split(b"\r\n\r\n", 1)[0]
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                ids[line.split(b":", 1)[1].strip().decode()] += 1
    return ids


@pytest.mark.slow
def test_four_workers_on_postgresql_send_each_subscriber_once(
    pg_sessions: sessionmaker[Session], settings: Settings, handler: Handler, smtp_port: int
) -> None:
    sessions = pg_sessions
    small = dataclasses.replace(settings, batch_size=25)
    emails = started(sessions, small, 2000)
    engine = sessions.kw["bind"]
    url = engine.url.render_as_string(hide_password=False)
    workers = [worker_process(url, smtp_port, f"w{n}", DELIVERY_BATCH_SIZE="25") for n in range(4)]
    outputs = [w.communicate(timeout=240) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1][-2000:] for o in outputs]
    sent_by = [int(o[0].split(": ")[1].split(" sent")[0]) for o in outputs]
    assert sum(sent_by) == 2000 and min(sent_by) > 0, sent_by  # every worker took a share
    delivered = Counter(r for e in handler.envelopes for r in e.rcpt_tos)
    assert set(delivered) == set(emails)
    assert max(delivered.values()) == 1
    assert max(message_ids(handler).values()) == 1
    assert edition_counts(sessions, 1).status == "sent"


@pytest.mark.slow
def test_sigkill_mid_send_duplicates_at_most_the_in_flight_batch(
    sessions: sessionmaker[Session],
    database_url: str,
    settings: Settings,
    handler: Handler,
    smtp_port: int,
) -> None:
    batch = 20
    emails = started(sessions, dataclasses.replace(settings, batch_size=batch), 400)
    handler.delay = 0.004  # about 80 ms a batch: long enough to be killed inside one
    env = {"DELIVERY_BATCH_SIZE": str(batch), "DELIVERY_LEASE_SECONDS": "1"}
    kills = 0
    for _ in range(4):
        process = worker_process(database_url, smtp_port, f"doomed{kills}", **env)
        deadline = time.monotonic() + 30
        before = len(handler.envelopes)
        while len(handler.envelopes) < before + batch + batch // 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    assert leased(sessions) > 0  # the killed workers left their batches leased
    wait_for_leases_to_run_out(sessions)
    survivor = worker_process(database_url, smtp_port, "survivor", **env)
    _, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, err[-2000:]

    delivered = Counter(r for e in handler.envelopes for r in e.rcpt_tos)
    assert set(delivered) == set(emails)  # nobody skipped
    duplicates = sum(n - 1 for n in delivered.values())
    print(f"\n{kills} SIGKILLs, batch {batch}: {duplicates} duplicate messages")
    assert duplicates <= kills * batch
    ids = message_ids(handler)
    assert sum(n - 1 for n in ids.values()) == duplicates  # a resend keeps its Message-ID
    assert edition_counts(sessions, 1).status == "sent"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["worker", "send"])
def test_sigterm_mid_send_finishes_the_batch_and_costs_no_copy(
    sessions: sessionmaker[Session],
    database_url: str,
    settings: Settings,
    handler: Handler,
    smtp_port: int,
    command: str,
) -> None:
    """A platform restart (SIGTERM) stops ``digest worker`` or ``digest
    send`` after the batch in hand, recorded: exit 0, nothing sent twice,
    and the rest goes out when the process is started again."""
    batch = 20
    emails = started(sessions, dataclasses.replace(settings, batch_size=batch), 200)
    handler.delay = 0.004
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MAIL_URL": f"smtp://127.0.0.1:{smtp_port}?starttls=off",
        "SECRET_KEY": "test-secret-key",
        "DELIVERY_BATCH_SIZE": str(batch),
    }
    args = ["worker", "--once"] if command == "worker" else ["send", "--week", "2026-W48"]
    process = subprocess.Popen(
        [sys.executable, "-m", "worker", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(handler.envelopes) < batch + batch // 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=25)
    assert process.returncode == 0, err[-2000:]
    assert " sent" in out and "SIGTERM: finishing the batch in hand" in err
    assert time.monotonic() - stopped_at < 25
    assert len(handler.envelopes) < len(emails)  # it stopped early
    assert leased(sessions) == 0  # the batch claimed ahead was released at once

    again = subprocess.run(
        [sys.executable, "-m", "worker", *args], env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr[-2000:]
    delivered = Counter(r for e in handler.envelopes for r in e.rcpt_tos)
    assert set(delivered) == set(emails)
    assert max(delivered.values()) == 1
    assert edition_counts(sessions, 1).status == "sent"
