"""``digest status``: the schedule, the editions, the feeds and the mail
backend, as tables and as JSON, on both stores."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.support.commands import digest
from tests.support.opsworld import NOW, store_mid_send
from tests.support.schedule import store_send_at
from worker.config import Settings
from worker.domain.states import EditionStatus
from worker.schedule.due import coming_week, next_cron
from worker.store.models import Edition


@pytest.fixture
def status_env(
    settings: Settings, sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> dict[str, str]:
    """A store mid-send with next week's edition held; the environment of a
    ``digest status`` of it in Berlin time."""
    store_mid_send(sessions, settings)
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
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "MAIL_URL": f"file://{tmp_path / 'outbox'}",
        "DIGEST_TIMEZONE": "Europe/Berlin",
        "DIGEST_SEND_AT": "tue 09:00",
    }


def next_send(settings: Settings) -> dt.datetime:
    return next_cron("tue 09:00", settings, dt.datetime.now(dt.UTC))


def test_status_shows_schedule_editions_feeds_and_mail(
    status_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    done = digest(status_env, "status")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Schedule (times in Europe/Berlin)" in out
    send_at = next_send(settings).astimezone(ZoneInfo("Europe/Berlin"))
    assert f"  send: {send_at:%a %Y-%m-%d} 09:00\n" in out  # off a terminal: a line a row
    for job in ("ingest", "build", "retries", "prune"):
        assert re.search(rf"^  {job}: \w{{3}} \d{{4}}-\d\d-\d\d \d\d:\d\d$", out, re.M), job
    w48 = next(line for line in out.splitlines() if "2026-W48" in line)
    assert w48.startswith(
        "  2026-W48: status sending; queued 1; sent 3; deferred 2; failed 1; suppressed 1;"
    ), out
    assert "2026-W47" in out and "editor-ines" in out
    assert re.search(
        r"https://b\.example/feed: last fetch \S+ \d\d:\d\d; HTTP —; errors 2; "
        r"last error HTTP 500",
        out,
    ), out
    assert "https://c.example/feed (inactive)" in out
    assert f"Mail backend file://{tmp_path / 'outbox'}: ok: {tmp_path / 'outbox'} does not" in out


def test_status_as_json(status_env: dict[str, str], settings: Settings) -> None:
    as_json = digest(status_env, "status", "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["timezone"] == "Europe/Berlin"
    send = next(run for run in report["schedule"] if run["job"] == "send")
    send_at = next_send(settings)
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


def test_status_shows_a_send_moved_by_its_edition_file(
    status_env: dict[str, str], settings: Settings, sessions: sessionmaker[Session]
) -> None:
    now = dt.datetime.now(dt.UTC)
    week = coming_week(settings, now)
    berlin = ZoneInfo("Europe/Berlin")
    moved = (now + dt.timedelta(hours=1)).astimezone(berlin).replace(tzinfo=None, second=0)
    at = store_send_at(sessions, settings, week, moved)
    assert at is not None
    done = digest(status_env, "status")
    assert done.returncode == 0, done.stderr
    shown = f"{at.astimezone(berlin):%a %Y-%m-%d %H:%M}"
    assert f"  send: {shown} ({week}, send_at of its edition file)\n" in done.stdout
    report = json.loads(digest(status_env, "status", "--json").stdout)
    send = next(run for run in report["schedule"] if run["job"] == "send")
    assert dt.datetime.fromisoformat(send["at"]) == at and send["edition_file"] == str(week)


def test_status_of_one_week_as_json(status_env: dict[str, str]) -> None:
    week = digest(status_env, "status", "--week", "2026-W48", "--json")
    assert week.returncode == 0, week.stderr
    counts = json.loads(week.stdout)
    assert counts["week"] == "2026-W48" and counts["sent"] == 3 and counts["suppressed"] == 1
    assert counts["rate"] > 0  # three sent since the start, two hours ago


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
