"""Delivery benchmark: the whole engine against Postfix's smtp-sink.

For each store (SQLite, PostgreSQL) it creates N subscribers, builds the
demo week's edition, materialises the deliveries and runs `digest worker`
processes until the edition is sent (store, claim, compose, send, record),
then prints messages per second end to end and each worker's peak RSS. In
the same run, against the same sink with the same number of connections,
it times `smtp-source -d` with the same message size, and a naive sender
(one EmailMessage and one smtplib.send_message per recipient, one thread per
connection).

    .venv/bin/python bench/delivery.py --subscribers 100000
    .venv/bin/python bench/delivery.py --subscribers 1000000 --stop-after 100000  # RSS at 1M
    .venv/bin/python bench/delivery.py --dkim key.pem  # the cost of signing each message

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
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from worker.compose.ids import EditionRef
from worker.compose.message import Recipient, SegmentParts
from worker.compose.template import MessageTemplate
from worker.config import PROJECT_ROOT, Settings, load_settings
from worker.deliver.editions import build_edition, edition_counts, start_edition
from worker.domain.states import DeliveryStatus
from worker.domain.weeks import Week
from worker.ingest.importer import import_file
from worker.render.renderer import Renderer
from worker.store import make_engine, session_factory, upgrade
from worker.store.models import Delivery, EditionSegment

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
    wall: float  # seconds until the last worker exited
    peaks_kb: list[int]  # each worker's peak RSS
    cpu: list[float]  # each worker's user + system seconds


def run_workers(
    url: str,
    port: int,
    workers: int,
    connections: int,
    batch_size: int,
    stop_after: int | None,
    dkim_key: str | None,
) -> WorkerRun:
    """Run worker processes until the edition is sent (or ``stop_after``
    messages went out: then SIGTERM, which finishes the batch in hand)."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MAIL_URL": f"smtp://127.0.0.1:{port}?starttls=off&connections={connections}",
        "DELIVERY_BATCH_SIZE": str(batch_size),
    }
    if dkim_key:
        env["DKIM_PRIVATE_KEY_FILE"] = dkim_key
    began = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "worker", "worker", "--once", "--id", f"bench{n}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(workers)
    ]
    peaks = [0] * len(processes)
    cpu = [0.0] * len(processes)
    done: set[int] = set()
    engine = make_engine(url)
    stopping = False
    counted = 0.0
    while len(done) < len(processes):
        for n, p in enumerate(processes):
            if n in done:
                continue
            peaks[n] = max(peaks[n], high_water_kb(p.pid))
            pid, _, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                done.add(n)
                cpu[n] = usage.ru_utime + usage.ru_stime
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
    return WorkerRun(time.perf_counter() - began, peaks, cpu)


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
    parser.add_argument("--connections", type=int, default=1, help="SMTP connections per worker")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop the workers after this many sends (for RSS at 1M)",
    )
    parser.add_argument("--naive", type=int, default=2000, help="messages for the naive baseline")
    parser.add_argument("--dkim", metavar="KEY.pem", help="sign every message with this RSA key")
    args = parser.parse_args()

    print(
        f"{args.subscribers:,} subscribers, batches of {args.batch_size}, "
        f"{args.connections} connection(s) per worker" + (", DKIM on" if args.dkim else "")
    )
    with smtp_sink() as port:
        for kind in args.stores.split(","):
            # One worker on SQLite: it has one writer at a time.
            workers = 1 if kind == "sqlite" else args.workers
            connections = workers * args.connections
            with store(kind) as url:
                sessions, settings, materialise = prepare(url, args.subscribers)
                size = message_size(sessions, settings)
                run = run_workers(
                    url,
                    port,
                    workers,
                    args.connections,
                    args.batch_size,
                    args.stop_after,
                    args.dkim,
                )
                sent = edition_counts(sessions, 1).sent
                rate = sent / run.wall
                source = smtp_source(port, size, min(sent, 50_000), connections)
                # The naive sender at its best: more threads only slow it (GIL).
                baseline = naive(port, sessions, args.naive, 1)
                sessions.kw["bind"].dispose()
            print(f"\n[{kind}] {workers} worker(s), {sent:,} messages of {size:,} bytes")
            print(f"  materialise (INSERT ... SELECT):    {materialise:8.2f} s")
            print(f"  engine end to end:                  {rate:8.0f} msg/s")
            print(f"  smtp-source -d, same size, {connections} conn: {source:8.0f} msg/s")
            print(f"  naive, EmailMessage + send_message, 1 conn: {baseline:8.0f} msg/s")
            print(f"  engine / smtp-source:               {rate / source:8.2f}x")
            print(f"  engine / naive:                     {rate / baseline:8.1f}x")
            print(f"  worker CPU per message:             {sum(run.cpu) / sent * 1e6:8.0f} us")
            peaks = ", ".join(f"{p / 1024:.0f} MB" for p in run.peaks_kb)
            print(f"  peak RSS per worker:                {peaks}")
    print(f"\n  peak RSS of this benchmark process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
