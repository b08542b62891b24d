"""One-click unsubscribe benchmark: RFC 8058 POSTs against the web app.

It makes a PostgreSQL schema of its own, puts N confirmed subscribers in it,
signs one unsubscribe token each, and starts the ``web`` process of the
``Procfile`` (gunicorn, 2 workers, access log on) on a free loopback port,
once per worker class asked for. A load client (bench/oneclick.py: wrk if
installed, bench/setup.sh installs it) then POSTs
``List-Unsubscribe=One-Click`` to ``/u/<token>`` over several connections,
each token once: first a short warm-up, then the measured run. It prints
unsubscribes per second, the p50/p90/p99 latency, the answers other than
200 and the socket errors, the CPU each part took (the machine's load is
printed too: on a shared box the figures move with the neighbours), and
then checks the store: the subscribers whose POST was answered 200 are
unsubscribed, and nobody else is, except those whose answer was never read
(in flight when the client stopped), which may be either.

    .venv/bin/python bench/unsubscribe.py
    .venv/bin/python bench/unsubscribe.py --worker-class gthread --threads 2,4,8
    .venv/bin/python bench/unsubscribe.py --client python --connections 16
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from oneclick import Load, run_python, run_wrk
from scratch import add_subscribers, free_port, store
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from worker.config import PROJECT_ROOT, Settings, load_settings
from worker.domain.states import SubscriberStatus
from worker.domain.tokens import Purpose, make_token, subscriber_payload
from worker.store import make_engine, session_factory, upgrade
from worker.store.models import Subscriber

APP = "subscribers.web:create_app()"
SECRET_KEY = "bench-unsubscribe-not-secret"
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    """How gunicorn runs: its worker class, and threads per worker (gthread)."""

    worker_class: str
    threads: int = 1

    def __str__(self) -> str:
        if self.worker_class == "gthread":
            return f"gthread, {self.threads} threads"
        return self.worker_class


def prepare(url: str, count: int) -> tuple[sessionmaker[Session], list[int]]:
    """The store at ``url`` migrated, with ``count`` confirmed subscribers;
    returns its sessions and the subscribers' ids."""
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    add_subscribers(sessions, count)
    vacuum(engine)
    with sessions() as session:
        ids = list(session.scalars(select(Subscriber.id).order_by(Subscriber.id)))
    return sessions, ids


def vacuum(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE subscriber"))


def unsubscribe_tokens(settings: Settings, ids: list[int]) -> list[str]:
    """One unsubscribe token per subscriber, as the links of an email carry."""
    return [
        make_token(settings, Purpose.UNSUBSCRIBE, subscriber_payload(n, settings.list_id))
        for n in ids
    ]


@dataclass(frozen=True)
class Served:
    master: int  # gunicorn's master process
    log: Path  # its error log: start-up lines and any traceback


@contextmanager
def serve(
    app: str, url: str, site: str, port: int, workers: int, server: Server
) -> Iterator[Served]:
    """gunicorn serving ``app`` on ``port`` as the Procfile's ``web`` line
    does, until the block ends."""
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "SITE_URL": site}
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--access-logfile",
        "-",
        "--worker-class",
        server.worker_class,
    ]
    if server.worker_class == "gthread":
        command += ["--threads", str(server.threads)]
    # The error log goes to a file: a pipe nobody reads would fill up with
    # tracebacks and stop the workers.
    with tempfile.NamedTemporaryFile(prefix="gunicorn-", suffix=".log") as log:
        process = subprocess.Popen(
            command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            wait_until_up(process, f"{site}/", Path(log.name))
            yield Served(process.pid, Path(log.name))
        finally:
            process.terminate()
            process.wait(timeout=30)


def wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Return when ``url`` answers (any HTTP status)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited with {process.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    sys.exit(f"gunicorn did not answer {url} within 30 s:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class Cpu:
    """CPU seconds taken between two samples, by part."""

    wall: float
    web: float  # gunicorn master and workers
    postgres: float  # every postgres process on the machine
    machine: float  # all cores, everything (the box is shared)


@dataclass(frozen=True)
class CpuSample:
    at: float
    processes: dict[int, tuple[str, float]]  # pid -> (part, CPU seconds so far)
    machine: float

    @staticmethod
    def take(master: int) -> CpuSample:
        processes = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            pid, command = int(entry.name), stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            seconds = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
            if master in (pid, int(fields[1])):
                processes[pid] = ("web", seconds)
            elif command == "postgres":
                processes[pid] = ("postgres", seconds)
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq = stat.readline().split()[1:8]
        busy = sum(int(v) for v in (user, nice, system, irq, softirq)) / TICK
        return CpuSample(time.monotonic(), processes, busy)

    def until(self, later: CpuSample) -> Cpu:
        """What each part used from this sample to ``later``; a process that
        ended meanwhile is not counted, one that started is counted whole."""
        parts = {"web": 0.0, "postgres": 0.0}
        for pid, (part, seconds) in later.processes.items():
            parts[part] += seconds - self.processes.get(pid, (part, 0.0))[1]
        return Cpu(
            later.at - self.at, parts["web"], parts["postgres"], later.machine - self.machine
        )


@dataclass(frozen=True)
class StoreCheck:
    unsubscribed: int
    answered_ok: int
    unanswered: int  # sent, answer never read
    unanswered_applied: int
    strangers: int  # unsubscribed without a POST answered 200 or unanswered
    missing: int  # answered 200 and still subscribed

    @property
    def ok(self) -> bool:
        return not self.strangers and not self.missing


def check_store(
    sessions: sessionmaker[Session], ids: list[int], outcomes: dict[int, int]
) -> StoreCheck:
    """Compare who is unsubscribed with what the clients were answered."""
    with sessions() as session:
        gone = set(
            session.scalars(
                select(Subscriber.id).where(Subscriber.status == SubscriberStatus.UNSUBSCRIBED)
            )
        )
    answered_ok = {ids[i] for i, status in outcomes.items() if status == 200}
    unanswered = {ids[i] for i, status in outcomes.items() if status == 0}
    return StoreCheck(
        unsubscribed=len(gone),
        answered_ok=len(answered_ok),
        unanswered=len(unanswered),
        unanswered_applied=len(gone & unanswered),
        strangers=len(gone - answered_ok - unanswered),
        missing=len(answered_ok - gone),
    )


def resubscribe(sessions: sessionmaker[Session]) -> None:
    """Everyone confirmed again, for the next server's run."""
    with sessions.begin() as session:
        session.execute(
            update(Subscriber)
            .where(Subscriber.status == SubscriberStatus.UNSUBSCRIBED)
            .values(status=SubscriberStatus.CONFIRMED, unsubscribed_at=None)
        )
    vacuum(sessions.kw["bind"])


def report(
    server: Server, workers: int, load: Load, cpu: Cpu, check: StoreCheck, busy: float
) -> None:
    """Print one server's figures; ``busy`` is the machine's load average
    just before its run."""
    met = load.rate >= 1000 and load.latency_ms["p99"] < 50 and not load.other
    lat = load.latency_ms
    print(f"\n[gunicorn {workers} workers, {server}]  (load average before: {busy:.2f})")
    print(
        f"  one-click unsubscribes:   {load.rate:8,.0f} /s "
        f"({load.answered - load.other:,} answered 200 in {load.seconds:.1f} s)"
    )
    print(
        f"  latency p50 / p90 / p99 / max: {lat['p50']:.1f} / {lat['p90']:.1f} / "
        f"{lat['p99']:.1f} / {lat['max']:.1f} ms"
    )
    print(f"  answers other than 200:   {load.other:8,}   socket errors: {load.socket_errors:,}")

    def share(seconds: float) -> str:
        return f"{seconds / cpu.wall * 100:.0f} %"

    print(
        f"  CPU, % of one core:       client {share(load.cpu)}, gunicorn {share(cpu.web)}, "
        f"postgres {share(cpu.postgres)}, whole machine {share(cpu.machine)} "
        f"of {os.cpu_count() or 1}00 %"
    )
    answers = max(1, load.answered)
    print(
        f"  CPU per answer:           client {load.cpu / answers * 1e6:.0f} us, "
        f"gunicorn {cpu.web / answers * 1e6:.0f} us, "
        f"postgres {cpu.postgres / answers * 1e6:.0f} us"
    )
    verdict = "correct" if check.ok else "WRONG"
    print(
        f"  store ({verdict}): {check.unsubscribed:,} unsubscribed = the {check.answered_ok:,} "
        f"answered 200 + {check.unanswered_applied} of {check.unanswered} never answered "
        f"(in flight at the stop); {check.strangers} others; {check.missing} answered 200 "
        "yet subscribed"
    )
    print(f"  target (>= 1,000/s, p99 < 50 ms, all 200): {'met' if met else 'missed'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before it")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--worker-class",
        default="gthread,sync",
        help="gunicorn worker classes to run, in turn (the Procfile's first)",
    )
    parser.add_argument(
        "--threads", default="8", help="threads per gthread worker, as the Procfile (list: 4,8)"
    )
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--app", default=APP, help=f"the WSGI app gunicorn serves (default: {APP}, as the Procfile)"
    )
    args = parser.parse_args()
    if args.subscribers < 20 * args.connections:
        parser.error("--subscribers: give at least 20 per connection")

    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    drive = run_wrk if client == "wrk" else run_python
    servers = [
        Server(kind, int(threads))
        for kind in args.worker_class.split(",")
        for threads in (args.threads.split(",") if kind == "gthread" else ["1"])
    ]
    print(
        f"{args.subscribers:,} subscribers on PostgreSQL; {args.connections} connections from "
        f"{client}; {args.warmup:g} s warm-up, {args.seconds:g} s measured; "
        f"{os.cpu_count()} cores; {dt.date.today()}"
    )
    results: dict[Server, Load] = {}
    all_correct = True
    with store("postgresql") as url:
        sessions, ids = prepare(url, args.subscribers)
        port = free_port()
        site = f"http://127.0.0.1:{port}"
        settings = load_settings(database_url=url, secret_key=SECRET_KEY, site_url=site)
        tokens = unsubscribe_tokens(settings, ids)
        # The warm-up takes its tokens from the end of the list, the measured
        # run from the start; every server starts from a list all confirmed.
        spare = max(args.connections, len(tokens) // 10)
        for server in servers:
            with serve(args.app, url, site, port, args.workers, server) as served:
                busy = os.getloadavg()[0]
                warm = drive(port, tokens[-spare:], args.warmup, args.connections)
                before = CpuSample.take(served.master)
                load = drive(port, tokens[:-spare], args.seconds, args.connections)
                cpu = before.until(CpuSample.take(served.master))
                if warm.other or load.other:
                    print(f"gunicorn's log ends:\n{tail(served.log)}")
            outcomes = dict(load.outcomes)
            offset = len(tokens) - spare
            for index, status in warm.outcomes.items():
                outcomes[offset + index] = status
            check = check_store(sessions, ids, outcomes)
            all_correct &= check.ok
            report(server, args.workers, load, cpu, check, busy)
            if len(load.outcomes) >= len(tokens) - spare:
                print("  (the run outlasted the tokens: some subscribers were unsubscribed twice)")
            results[server] = load
            resubscribe(sessions)
        sessions.kw["bind"].dispose()
    best = max(results, key=lambda s: results[s].rate)
    print(
        f"\nbest: gunicorn {args.workers} workers, {best}: {results[best].rate:,.0f} /s, "
        f"p99 {results[best].latency_ms['p99']:.1f} ms"
    )
    if not all_correct:
        sys.exit("the store does not match the answers")


if __name__ == "__main__":
    main()
