"""``digest send`` by hand with DIGEST_SEND_LOCAL: each reader's delivery is
dated by the week's scheduled send, in their zone; mornings that have
passed go out at once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.cli import CliRunnerCall
from tests.support.schedule import add_week_content, utc
from tests.support.subscribers import set_zones
from worker.store.models import Delivery, Subscriber

ZONES = {
    "reader0@example.com": "Pacific/Kiritimati",
    "reader1@example.com": "Europe/Berlin",
    "reader2@example.com": "America/Los_Angeles",
}


def test_send_by_hand_dates_each_reader_by_the_weeks_scheduled_send(
    digest: CliRunnerCall, sessions: sessionmaker[Session]
) -> None:
    add_week_content(sessions, dt.date(2026, 10, 21))
    set_zones(sessions, ZONES)
    digest.env |= {
        "DIGEST_SEND_LOCAL": "on",
        "DIGEST_TIMEZONE": "Europe/Berlin",
        "DIGEST_SEND_AT": "tue 09:00",
    }
    done = digest("send", "--week", "2026-W43")
    # Tuesday 27 October 2026, 09:00: Berlin is back on UTC+1 since Sunday,
    # Los Angeles still on UTC-7. Long past: everyone gets it at once.
    assert done.stdout.endswith(
        "2026-W43: edition sent; this run: 3 sent, 0 deferred, 0 failed, 0 suppressed\n"
    ), done.output
    with sessions() as session:
        due = dict(
            session.execute(
                select(Subscriber.email, Delivery.due_at).join(
                    Delivery, Delivery.subscriber_id == Subscriber.id
                )
            ).all()
        )
    assert due == {
        "reader0@example.com": utc(2026, 10, 26, 19, 0),
        "reader1@example.com": utc(2026, 10, 27, 8, 0),
        "reader2@example.com": utc(2026, 10, 27, 16, 0),
    }
