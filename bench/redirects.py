"""Counted-link benchmark: readers' clicks on ``/r/<token>?to=…`` against the
web app, as bench/unsubscribe.py measures one-click unsubscribes.

It makes a PostgreSQL schema of its own with one edition that has gone out,
signs a counted link for each of ``--items`` items of it (clicks on a real
edition spread over its comparisons, tools and launches), and starts the
``web`` process of the ``Procfile`` (gunicorn, 2 workers, gthread with 8
threads, access log on) on a free loopback port. wrk (bench/unsubscribe.lua
asked to GET; bench/setup.sh installs it) then GETs those links over several connections,
first a short warm-up, then the measured run. Each click is one upsert into
``click_count`` and a 302. It prints redirects per second, the p50/p90/p99
latency, answers other than 302 and socket errors, the CPU each part took
(the machine's load too: on a shared box the figures move with the
neighbours), and checks the store: it counted every click answered 302, and
at most one more per connection (a click in flight when the client stopped).

    .venv/bin/python bench/redirects.py
    .venv/bin/python bench/redirects.py --runs 3 --seconds 10
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys

from oneclick import Load, run_wrk
from scratch import free_port, store
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from unsubscribe import APP, SECRET_KEY, CpuSample, Server, serve, tail

from worker.config import load_settings
from worker.domain.clicks import edition_links
from worker.domain.states import EditionStatus
from worker.store import make_engine, session_factory, upgrade
from worker.store.models import ClickCount, Edition

WEEK = "2026-W48"


def prepare(url: str) -> sessionmaker[Session]:
    """The store at ``url`` migrated, with ``WEEK``'s edition gone out."""
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        session.add(
            Edition(
                list_id="weekly",
                week=WEEK,
                status=EditionStatus.SENT,
                started_at=dt.datetime.now(dt.UTC),
            )
        )
    return sessions


def counted(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.coalesce(func.sum(ClickCount.clicks), 0))) or 0)


def report(run: int, load: Load, cpu_web: float, cpu_pg: float, wall: float, busy: float) -> None:
    lat = load.latency_ms
    met = load.rate >= 1000 and lat["p99"] < 50 and not load.other
    print(f"\n[run {run}]  (load average before: {busy:.2f})")
    print(
        f"  redirects:                {load.rate:8,.0f} /s "
        f"({load.answered - load.other:,} answered 302 in {load.seconds:.1f} s)"
    )
    print(
        f"  latency p50 / p90 / p99 / max: {lat['p50']:.1f} / {lat['p90']:.1f} / "
        f"{lat['p99']:.1f} / {lat['max']:.1f} ms"
    )
    print(f"  answers other than 302:   {load.other:8,}   socket errors: {load.socket_errors:,}")
    print(
        f"  CPU, % of one core:       client {load.cpu / wall * 100:.0f} %, gunicorn "
        f"{cpu_web / wall * 100:.0f} %, postgres {cpu_pg / wall * 100:.0f} %"
    )
    print(f"  target (>= 1,000/s, p99 < 50 ms, all 302): {'met' if met else 'missed'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=50, help="items of the edition clicked")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of a measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up first")
    parser.add_argument("--runs", type=int, default=3, help="measured runs, one after another")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="threads per gthread worker")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: bash bench/setup.sh installs it")
    print(
        f"{args.items} items of one edition on PostgreSQL; {args.connections} connections from "
        f"wrk; {args.warmup:g} s warm-up, {args.runs} x {args.seconds:g} s measured; "
        f"{os.cpu_count()} cores; {dt.date.today()}"
    )
    rates: list[Load] = []
    correct = True
    with store("postgresql") as url:
        sessions = prepare(url)
        port = free_port()
        site = f"http://127.0.0.1:{port}"
        settings = load_settings(database_url=url, secret_key=SECRET_KEY, site_url=site)
        links = edition_links(settings, WEEK)
        assert links is not None
        paths = [
            links.url(
                f"launch:tool-{n}", f"https://tool-{n}.example/launch?ref=digest"
            ).removeprefix(site)
            for n in range(args.items)
        ]
        with serve(APP, url, site, port, args.workers, Server("gthread", args.threads)) as served:
            warm = run_wrk(port, paths, args.warmup, args.connections, get=True)
            for run in range(1, args.runs + 1):
                busy = os.getloadavg()[0]
                before_count = counted(sessions)
                before = CpuSample.take(served.master)
                load = run_wrk(port, paths, args.seconds, args.connections, get=True)
                cpu = before.until(CpuSample.take(served.master))
                clicks = counted(sessions) - before_count
                report(run, load, cpu.web, cpu.postgres, cpu.wall, busy)
                answered = load.answered - load.other
                ok = answered <= clicks <= answered + args.connections
                correct &= ok
                print(
                    f"  store ({'correct' if ok else 'WRONG'}): {clicks:,} clicks counted for "
                    f"{answered:,} answered 302 (at most {args.connections} more in flight)"
                )
                rates.append(load)
            if warm.other or any(load.other for load in rates):
                print(f"gunicorn's log ends:\n{tail(served.log)}")
        sessions.kw["bind"].dispose()
    best = max(rates, key=lambda load: load.rate)
    print(
        "\nruns: "
        + "; ".join(
            f"{load.rate:,.0f}/s p50 {load.latency_ms['p50']:.1f} ms p99 "
            f"{load.latency_ms['p99']:.1f} ms"
            for load in rates
        )
    )
    print(f"best: {best.rate:,.0f}/s, p99 {best.latency_ms['p99']:.1f} ms")
    if not correct:
        sys.exit("the store does not match the answers")


if __name__ == "__main__":
    main()
