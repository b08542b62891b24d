"""Delivery benchmark: the whole engine against Postfix's smtp-sink, as a
ratio to Postfix's own smtp-source in the same run.

For each run and store (SQLite, PostgreSQL) it creates N subscribers,
builds the demo week's edition and materialises the deliveries (timed),
then sends it with `digest worker` processes (or `digest send`, with
``--via send``) into smtp-sink: store, claim, compose, send, record. With
``--dkim KEY.pem`` the same edition is sent again, signed (RSA 2048), after
its deliveries are reset, so that signed and unsigned share a run. Then, in
the same run and into the same sink, `smtp-source -d` sends as many messages
of the same size over the same number of connections, and a naive sender
(one EmailMessage and one smtplib.send_message per recipient) a few.

Each run prints a line per variant: messages, size, workers × connections,
our rate, smtp-source's, the ratio, our CPU per message (the worker
processes and their signing processes), each worker's peak RSS (and its
signing processes'), and signed/unsigned. The runs are all printed, then
their medians.

    .venv/bin/python bench/delivery.py --subscribers 100000 --connections 2,8 --runs 3
    .venv/bin/python bench/delivery.py --stores postgresql --workers 2
    .venv/bin/python bench/delivery.py --subscribers 1000000 --stores postgresql --stop-after 100000
    .venv/bin/python bench/delivery.py --dkim key.pem  # signed against unsigned

smtp-sink and smtp-source come from Debian's postfix package (bench/setup.sh
installs it without starting the Postfix daemon).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from scratch import add_subscribers, free_port, store
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from worker.compose.ids import EditionRef
from worker.compose.message import Recipient, SegmentParts
from worker.compose.template import MessageTemplate
from worker.config import PROJECT_ROOT, Settings, load_settings
from worker.deliver.editions import build_edition, edition_counts, start_edition
from worker.domain.states import DeliveryStatus, EditionStatus
from worker.domain.weeks import Week
from worker.ingest.importer import import_file
from worker.render.renderer import Renderer
from worker.store import make_engine, session_factory, upgrade
from worker.store.models import Delivery, Edition, EditionSegment

WEEK = Week(2026, 48)


@contextmanager
def smtp_sink() -> Iterator[int]:
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not Path(binary).exists():
        sys.exit("smtp-sink is missing: run bench/setup.sh (Debian's postfix package)")
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    process = subprocess.Popen([binary, *user, f"127.0.0.1:{port}", "1024"])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait()


def prepare(url: str, subscribers: int) -> tuple[sessionmaker[Session], Settings, float]:
    """A store with the sample content, ``subscribers`` confirmed readers in a
    few segments, and the week's edition started. Returns the materialise time."""
    settings = load_settings(database_url=url, mail_url="memory://")
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    import_file(sessions, PROJECT_ROOT / "sample" / "content.yaml")
    segments = ["", "", "", "Developer Tools", "Design|Productivity"]
    add_subscribers(sessions, subscribers, segments)
    build_edition(sessions, WEEK, settings, Renderer(settings.templates_dir))
    began = time.perf_counter()
    start_edition(sessions, WEEK, settings)
    return sessions, settings, time.perf_counter() - began


def message_size(sessions: sessionmaker[Session], settings: Settings) -> int:
    with sessions() as session:
        segment = session.scalars(select(EditionSegment).where(EditionSegment.segment == "")).one()
        parts = SegmentParts(segment.subject, segment.html, segment.text)
        ref = EditionRef(segment.edition_id, str(WEEK))
    template = MessageTemplate(parts, ref, settings)
    sample = template.compose(
        Recipient(1, "reader0000001@example.com", "Reader 1"), dt.datetime.now(dt.UTC)
    )
    return len(sample.data)


@dataclass(frozen=True)
class WorkerRun:
    wall: float  # seconds until the last process exited
    peaks_kb: list[int]  # each worker's peak RSS
    helper_peaks_kb: list[int]  # each signing process's peak RSS
    cpu: float  # user + system seconds of the workers and their children


def run_workers(
    url: str,
    port: int,
    workers: int,
    connections: int,
    batch_size: int,
    stop_after: int | None,
    dkim_key: str | None,
    via: str,
) -> WorkerRun:
    """Run worker processes (or one `digest send`) until the edition is sent,
    or until ``stop_after`` messages went out: then SIGTERM, which finishes
    the batch in hand."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MAIL_URL": f"smtp://127.0.0.1:{port}?starttls=off&connections={connections}",
        "DELIVERY_BATCH_SIZE": str(batch_size),
    }
    if dkim_key:
        env["DKIM_PRIVATE_KEY_FILE"] = dkim_key
    command = ["send", "--week", str(WEEK)] if via == "send" else ["worker", "--once"]
    began = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "worker", *command]
            + (["--id", f"bench{n}"] if via == "worker" else []),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(workers if via == "worker" else 1)
    ]
    peaks = [0] * len(processes)
    helpers: dict[int, int] = {}
    cpu = 0.0
    done: set[int] = set()
    engine = make_engine(url)
    stopping = False
    counted = 0.0
    while len(done) < len(processes):
        for n, p in enumerate(processes):
            if n in done:
                continue
            peaks[n] = max(peaks[n], high_water_kb(p.pid))
            for child in children(p.pid):
                helpers[child] = max(helpers.get(child, 0), high_water_kb(child))
            pid, _, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                done.add(n)
                # A worker waits for its signing processes: their time is in its children's.
                cpu += usage.ru_utime + usage.ru_stime
        # Counting scans the delivery table: twice a second at most, and only
        # when it decides something, or it would load the store it measures.
        if stop_after and not stopping and time.monotonic() - counted >= 0.5:
            counted = time.monotonic()
            if sent_count(engine) >= stop_after:
                stopping = True
                for p in processes:
                    p.send_signal(signal.SIGTERM)  # each finishes its batch and exits
        time.sleep(0.05)
    engine.dispose()
    return WorkerRun(time.perf_counter() - began, peaks, list(helpers.values()), cpu)


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (its signing processes)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def reset(url: str) -> None:
    """The edition as it was before its send: every delivery queued again."""
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            update(Delivery)
            .where(Delivery.status != DeliveryStatus.QUEUED)
            .values(
                status=DeliveryStatus.QUEUED,
                attempts=0,
                lease_owner=None,
                lease_expires_at=None,
                next_attempt_at=None,
                last_code=None,
                last_error=None,
                sent_at=None,
            )
        )
        connection.execute(update(Edition).values(status=EditionStatus.SENDING, sent_at=None))
    engine.dispose()


def sent_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.SENT)
        ).scalar_one()


def high_water_kb(pid: int) -> int:
    """The process's peak resident set (VmHWM), which starts afresh at exec;
    wait4's ru_maxrss would count pages inherited from this process."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def smtp_source(port: int, size: int, count: int, connections: int) -> float:
    binary = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    began = time.perf_counter()
    subprocess.run(
        [
            binary,
            "-d",
            "-s",
            str(connections),
            "-l",
            str(size),
            "-m",
            str(count),
            "-f",
            "digest@verdicts.example",
            "-t",
            "reader@example.com",
            f"127.0.0.1:{port}",
        ],
        check=True,
    )
    return count / (time.perf_counter() - began)


def naive(port: int, sessions: sessionmaker[Session], count: int, connections: int) -> float:
    """One EmailMessage and one smtplib.send_message per recipient, over
    ``connections`` connections, each from a thread of its own."""
    with sessions() as session:
        segment = session.scalars(select(EditionSegment).where(EditionSegment.segment == "")).one()
        html, plain, subject = segment.html, segment.text, segment.subject

    def send(numbers: range) -> None:
        connection = smtplib.SMTP("127.0.0.1", port)
        for n in numbers:
            message = EmailMessage()
            message["From"] = "digest@verdicts.example"
            message["To"] = f"Reader {n} <reader{n:07d}@example.com>"
            message["Subject"] = subject
            message.set_content(plain)
            message.add_alternative(html, subtype="html")
            connection.send_message(message)
        connection.quit()

    threads = [
        threading.Thread(target=send, args=(range(k, count, connections),))
        for k in range(connections)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.perf_counter() - began)


@dataclass(frozen=True)
class Row:
    run: int
    store: str
    variant: str  # "unsigned" or "signed"
    workers: int
    connections: int  # per worker
    sent: int
    size: int
    rate: float
    source: float
    cpu_us: float
    peaks_mb: list[float]
    helper_peaks_mb: list[float]
    materialise: float
    signed_ratio: float | None = None


def print_row(row: Row) -> None:
    peaks = "/".join(f"{p:.0f}" for p in row.peaks_mb)
    helpers = "/".join(f"{p:.0f}" for p in row.helper_peaks_mb) or "-"
    signed = f"{row.signed_ratio:.2f}x" if row.signed_ratio is not None else "-"
    print(
        f"{row.run:>3} {row.store:<10} {row.variant:<8} {row.workers}x{row.connections:<3} "
        f"{row.sent:>9,} {row.size:>7,} {row.rate:>8.0f} {row.source:>8.0f} "
        f"{row.rate / row.source:>6.2f}x {row.cpu_us:>7.0f} {peaks:>9} {helpers:>7} "
        f"{row.materialise:>7.2f} {signed:>7}",
        flush=True,
    )


HEADER = (
    "run store      variant  w x c   messages    size  msg/s  source/s  ratio  "
    "CPU us  RSS MB  sign MB  mat. s  signed"
)


def medians(rows: list[Row]) -> None:
    """The median of each figure over the runs, per store, variant and shape."""
    print("\nmedians of the runs:")
    print(HEADER)
    keys = dict.fromkeys((r.store, r.variant, r.workers, r.connections) for r in rows)
    for key in keys:
        same = [r for r in rows if (r.store, r.variant, r.workers, r.connections) == key]
        ratios = [r.signed_ratio for r in same if r.signed_ratio is not None]
        median = Row(
            0,
            key[0],
            key[1],
            key[2],
            key[3],
            int(statistics.median(r.sent for r in same)),
            same[0].size,
            statistics.median(r.rate for r in same),
            statistics.median(r.source for r in same),
            statistics.median(r.cpu_us for r in same),
            [statistics.median(max(r.peaks_mb) for r in same)],
            (
                [statistics.median(max(r.helper_peaks_mb) for r in same if r.helper_peaks_mb)]
                if any(r.helper_peaks_mb for r in same)
                else []
            ),
            statistics.median(r.materialise for r in same),
            statistics.median(ratios) if ratios else None,
        )
        print_row(median)


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (PostgreSQL)")
    parser.add_argument("--connections", default="2", help="SMTP connections per worker, e.g. 2,8")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--via", choices=("worker", "send"), default="worker")
    parser.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop the workers after this many sends (for RSS at 1M)",
    )
    parser.add_argument("--naive", type=int, default=500, help="messages for the naive baseline")
    parser.add_argument("--dkim", metavar="KEY.pem", help="also send signed with this RSA key")
    args = parser.parse_args()
    shapes = [int(c) for c in args.connections.split(",")]

    print(
        f"{args.subscribers:,} subscribers, batches of {args.batch_size}, via digest {args.via}, "
        f"{args.runs} run(s)" + (", signed and unsigned" if args.dkim else "")
    )
    print(HEADER)
    rows: list[Row] = []
    naive_rates: list[float] = []
    for run in range(1, args.runs + 1):
        with smtp_sink() as port:
            for kind in args.stores.split(","):
                # One worker on SQLite: it has one writer at a time.
                workers = 1 if kind == "sqlite" or args.via == "send" else args.workers
                with store(kind) as url:
                    sessions, settings, materialise = prepare(url, args.subscribers)
                    size = message_size(sessions, settings)
                    for connections in shapes:
                        unsigned_rate = None
                        for variant in ["unsigned", "signed"] if args.dkim else ["unsigned"]:
                            if edition_counts(sessions, 1).sent:
                                reset(url)
                            sent_run = run_workers(
                                url,
                                port,
                                workers,
                                connections,
                                args.batch_size,
                                args.stop_after,
                                args.dkim if variant == "signed" else None,
                                args.via,
                            )
                            sent = edition_counts(sessions, 1).sent
                            rate = sent / sent_run.wall
                            source = smtp_source(
                                port, size, min(sent, 50_000), workers * connections
                            )
                            row = Row(
                                run,
                                kind,
                                variant,
                                workers,
                                connections,
                                sent,
                                size,
                                rate,
                                source,
                                sent_run.cpu / sent * 1e6,
                                [p / 1024 for p in sent_run.peaks_kb],
                                [p / 1024 for p in sent_run.helper_peaks_kb],
                                materialise,
                                rate / unsigned_rate if unsigned_rate else None,
                            )
                            unsigned_rate = unsigned_rate or rate
                            rows.append(row)
                            print_row(row)
                    if args.naive:
                        naive_rates.append(naive(port, sessions, args.naive, 1))
                    sessions.kw["bind"].dispose()
    medians(rows)
    if naive_rates:
        print(
            "\nnaive sender (EmailMessage + smtplib.send_message, 1 connection): "
            + ", ".join(f"{r:.0f}" for r in naive_rates)
            + " msg/s"
        )
    print(f"peak RSS of this benchmark process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
