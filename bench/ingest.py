"""Ingest benchmark: one large feed, served on loopback, into a fresh store.

Two feeds: about 5 MB of entries all titled "Tool" (the slugs' worst case),
and 20,000 entries of distinct titles. Each is ingested into an empty store
by `ingest_feeds` in a child process, while this process makes one tiny
write after another beside it, each in a transaction of its own (an UPDATE
of a subscriber row, as the web app's one-click unsubscribe makes). For
each it prints the ingest's time, the child's peak RSS, and the longest a
probe write took: how long the store's write lock (SQLite) or the rows the
web app writes (PostgreSQL) kept a reader's unsubscribe waiting. A probe
write that waited out SQLite's busy timeout (5 s) failed; those are counted.

FEED_MAX_ENTRIES would store only the newest 100 entries of each: the
benchmark sets it to the feed's size, to measure the whole write path, and
then runs each feed again with the default to show what an operator gets.

    .venv/bin/python bench/ingest.py
    .venv/bin/python bench/ingest.py --stores sqlite,postgresql
    .venv/bin/python bench/ingest.py --alike 2000 --distinct 0  # a smaller run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scratch import store

from tests.support.bigfeeds import alike_feed, distinct_feed
from tests.support.feedserver import Route, serve_feeds
from tests.support.writeprobe import WriteProbe
from worker.config import Settings, load_settings
from worker.ingest.feeds import FeedSpec
from worker.ingest.runner import ingest_feeds
from worker.store import make_engine, session_factory, upgrade

ROOT = Path(__file__).resolve().parent.parent
ALIKE_BYTES = 5_000_000


def alike_entries(target: int) -> int:
    """How many alike entries make a feed of about ``target`` bytes."""
    per_entry = (len(alike_feed(1001)) - len(alike_feed(1))) / 1000
    return int(target / per_entry)


@dataclass(frozen=True)
class Figures:
    """What the child's ingest reported."""

    seconds: float
    new: int
    error: str | None
    peak_kb: int  # VmHWM: the high-water mark of this process since exec


def ingest_in_child(database_url: str, feed_url: str, env: dict[str, str]) -> Figures:
    """One ingest of ``feed_url`` in a process of its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", feed_url],
        env={**os.environ, **env, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
    )
    return Figures(**json.loads(done.stdout.splitlines()[-1]))


def child(feed_url: str) -> None:
    """The ingest itself, as `digest ingest` makes it: settings from the
    environment. Prints its figures as one line of JSON."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    began = time.perf_counter()
    result = ingest_feeds(session_factory(engine), [FeedSpec(feed_url)], settings).feeds[0]
    seconds = time.perf_counter() - began
    engine.dispose()
    peak_kb = next(
        int(line.split()[1])
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    print(json.dumps(asdict(Figures(seconds, result.new, result.error, peak_kb))))


def run(kind: str, feed_url: str, env: dict[str, str]) -> str:
    """One feed into a fresh store of ``kind``, with the probe beside it."""
    with store(kind) as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        with WriteProbe(url) as probe:
            figures = ingest_in_child(url, feed_url, env)
    stored = figures.error or f"{figures.new:>6,} stored"
    return (
        f"{figures.seconds:7.2f} s  {stored}  peak RSS {figures.peak_kb / 1024:4.0f} MB  "
        f"longest probe write {probe.longest * 1000:7.1f} ms "
        f"({len(probe.failures)} of {probe.writes + len(probe.failures)} failed)"
    )


def idle(kind: str, seconds: float = 3.0) -> str:
    """The probe alone, for a store at rest: what the figures compare with."""
    with store(kind) as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        with WriteProbe(url) as probe:
            time.sleep(seconds)
    return f"longest probe write {probe.longest * 1000:7.1f} ms over {seconds:g} s, no ingest"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", default="sqlite")
    parser.add_argument(
        "--alike", type=int, default=0, help="alike entries (default: about 5 MB of them)"
    )
    parser.add_argument("--distinct", type=int, default=20_000, help="distinct entries")
    parser.add_argument("--child", metavar="FEED_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    feeds: dict[str, bytes] = {}
    alike = args.alike or alike_entries(ALIKE_BYTES)
    if alike:
        feeds[f"{alike:,} entries titled 'Tool'"] = alike_feed(alike)
    if args.distinct:
        feeds[f"{args.distinct:,} distinct entries"] = distinct_feed(args.distinct)
    largest = max(len(body) for body in feeds.values())
    most = max(alike, args.distinct)
    # None on code from before the cap, for a run against it (before/after).
    default_cap = getattr(Settings(), "feed_max_entries", None)
    every = {
        "FEED_MAX_BYTES": str(max(Settings().feed_max_bytes, largest)),
        "FEED_MAX_ENTRIES": str(most),
        "FEED_TIMEOUT": "120",
        # The feeds are served on loopback, which a fetch may reach only when
        # told to (FEED_ALLOW_PRIVATE; ignored by code from before it).
        "FEED_ALLOW_PRIVATE": "127.0.0.1",
    }
    print(
        f"FEED_MAX_BYTES={every['FEED_MAX_BYTES']} FEED_MAX_ENTRIES={every['FEED_MAX_ENTRIES']} "
        f"(every entry); then the default FEED_MAX_ENTRIES ({default_cap or 'none: no cap'})"
    )
    with serve_feeds(ROOT) as server:
        for n, body in enumerate(feeds.values()):
            server.routes[f"/feed{n}.xml"] = Route(body=body)
        for kind in args.stores.split(","):
            print(f"\n[{kind}] {idle(kind)}")
            for n, (name, body) in enumerate(feeds.items()):
                feed_url = server.url(f"/feed{n}.xml")
                print(f"  {name}, {len(body) / 1e6:.1f} MB")
                print(f"    every entry:  {run(kind, feed_url, every)}")
                if default_cap:
                    capped = {**every, "FEED_MAX_ENTRIES": str(default_cap)}
                    print(f"    default cap:  {run(kind, feed_url, capped)}")


if __name__ == "__main__":
    main()
