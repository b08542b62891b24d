"""``digest status`` shows the waves of an edition sent in each reader's
morning: per UTC offset, the due time, how many are due and how many sent;
as tables, as JSON, and for one week, on both stores."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.commands import digest
from tests.support.schedule import add_week_content, utc, without_feeds
from tests.support.subscribers import set_zones
from worker.config import Settings
from worker.domain.states import DeliveryStatus
from worker.ops.waves import Wave
from worker.schedule.jobs import run_due
from worker.store.models import Delivery

ZONES = ("Pacific/Kiritimati", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata")


@pytest.fixture
def env(
    settings: Settings, sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> dict[str, str]:
    """W43 sending on Sunday 1 November 2026 in each reader's morning, the
    Kiritimati wave sent; the environment of ``digest status`` of it."""
    local = dataclasses.replace(
        without_feeds(settings, tmp_path), digest_send_local=True, digest_send_at="sun 09:00"
    )
    add_week_content(sessions, dt.date(2026, 10, 21), subscribers=5)
    set_zones(sessions, {f"reader{n}@example.com": zone for n, zone in enumerate(ZONES)})
    assert run_due(sessions, local, utc(2026, 10, 31, 19, 0), jobs=("send",)).started
    with sessions.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.due_at == utc(2026, 10, 31, 19, 0))
            .values(status=DeliveryStatus.SENT)
        )
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "MAIL_URL": f"file://{tmp_path / 'outbox'}",
        "DIGEST_TIMEZONE": "Europe/Berlin",
        "DIGEST_SEND_AT": "sun 09:00",
        "DIGEST_SEND_LOCAL": "on",
    }


WAVES = [
    Wave(utc(2026, 10, 31, 19, 0), "+14:00", 1, 1),
    Wave(utc(2026, 11, 1, 3, 30), "+05:30", 1, 0),
    # Berlin, and reader4 without a zone (the list's).
    Wave(utc(2026, 11, 1, 8, 0), "+01:00", 2, 0),
    Wave(utc(2026, 11, 1, 17, 0), "-08:00", 1, 0),
]


def test_status_shows_the_waves_of_a_sending_edition(env: dict[str, str]) -> None:
    done = digest(env, "status")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Waves of 2026-W43 (each reader's morning)" in out
    # Off a terminal, a line a row.
    assert (
        "  +14:00: due (UTC) Sat 2026-10-31 19:00; due (Europe/Berlin) Sat 2026-10-31 20:00;"
        " due 1; sent 1"
    ) in out, out
    assert "  -08:00: due (UTC) Sun 2026-11-01 17:00;" in out
    assert out.index("+05:30") < out.index("+01:00") < out.index("-08:00")


def test_status_as_json_and_for_one_week_has_the_waves(env: dict[str, str]) -> None:
    everything = json.loads(digest(env, "status", "--json").stdout)
    week = json.loads(digest(env, "status", "--week", "2026-W43", "--json").stdout)
    for waves in (everything["waves"]["2026-W43"], week["waves"]):
        assert [
            Wave(dt.datetime.fromisoformat(w["due_at"]), w["utc_offset"], w["due"], w["sent"])
            for w in waves
        ] == WAVES
    table = digest(env, "status", "--week", "2026-W43")
    assert table.returncode == 0, table.stderr
    assert "Waves of 2026-W43" in table.stdout and "+05:30" in table.stdout


def test_an_edition_sent_to_everyone_at_once_has_no_waves(
    env: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        session.execute(update(Delivery).values(due_at=None))
        assert session.scalar(select(Delivery.due_at).limit(1)) is None
    done = digest(env, "status")
    assert done.returncode == 0, done.stderr
    assert "Waves of" not in done.stdout
