"""Preview benchmark: a full build of the demo week, per segment (target:
under 100 ms a segment), and the time from a template save to the refreshed
preview in a real browser (target: under 500 ms).

    .venv/bin/python bench/preview.py [--rounds N]

The preview runs as an editor runs it, ``digest preview --sample`` in a
process of its own, on a copy of templates/; Debian's chromium (headless,
driven by Playwright) shows the page. Without chromium only the server side
is measured: the long poll, then the payload, as the page fetches them.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scratch import store

from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support.processes import stop
from worker.config import PROJECT_ROOT, Settings, load_settings
from worker.deliver.editions import build_edition, segment_keys
from worker.domain.digest import Digest
from worker.domain.segments import EVERYONE, digest_for_segment, segment_label
from worker.editor.sample import SAMPLE_WEEK, SampleStore, load_sample
from worker.gather import gather_week
from worker.render.renderer import Renderer
from worker.store import make_engine, session_factory, upgrade

BUILD_TARGET_MS = 100.0  # per segment
RELOAD_TARGET_MS = 500.0
# The footer sentence a round's marker goes into: plain text in every frame.
FOOTER = "You get this email because"
TEMPLATE = Path("email") / "digest.mjml.j2"
STARTUP_SECONDS = 30.0
SEEN_SECONDS = 5.0  # a round that takes longer than this is a failure, not a figure
SETTLE_SECONDS = 10.0  # SpamAssassin's verdict on the last change, bumping the version


def timed(runs: int, work: Callable[[], object]) -> list[float]:
    """``work``'s wall time in ms, ``runs`` times."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    """The 95th percentile of ``samples``."""
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def figures(samples: list[float], per: int = 1) -> str:
    """Median and p95 of ``samples``, divided by ``per``, as printed."""
    median, high = statistics.median(samples) / per, p95(samples) / per
    return f"median {median:7.2f} ms   p95 {high:7.2f} ms"


def row(label: str, value: str) -> None:
    """Print one figure under its label, the figures in a column."""
    print(f"  {label[:40]:<40} {value}")


def verdict(value: float, target: float) -> str:
    """Whether ``value`` is under ``target``, in words."""
    return "met" if value < target else "NOT met"


# 1. The build.


def measure_build(rounds: int) -> None:
    """Gather + render of every segment of the sample week, then
    build_edition end to end, in a fresh SQLite store."""
    with store("sqlite") as url:
        settings = load_settings(database_url=url, mail_url="memory://")
        engine = make_engine(settings.database_url)
        try:
            upgrade(engine)
            sessions = session_factory(engine)
            load_sample(sessions, settings)
            _measure_build(sessions, settings, rounds)
        finally:
            engine.dispose()


def _measure_build(sessions: sessionmaker[Session], settings: Settings, rounds: int) -> None:
    renderer = Renderer(settings.templates_dir)
    with sessions() as session:
        keys = sorted({EVERYONE, *segment_keys(session)})
        digest = gather_week(session, SAMPLE_WEEK, settings)
    segments = {key: digest_for_segment(digest, key) for key in keys}
    empty = [key for key, segment in segments.items() if segment.is_empty]
    segments = {key: segment for key, segment in segments.items() if not segment.is_empty}

    def gather() -> Digest:
        # A fresh session, as a build has: nothing cached from the last round.
        with sessions() as session:
            return gather_week(session, SAMPLE_WEEK, settings)

    def build() -> None:
        found = gather()
        for key in keys:
            renderer.render_segment(found, key)

    def edition() -> None:
        build_edition(sessions, SAMPLE_WEEK, settings, renderer)

    build()  # warm: templates compiled, the store's pages cached
    edition()
    gather_ms = timed(rounds, gather)
    render_ms = {
        key: timed(rounds, functools.partial(renderer.render, segment))
        for key, segment in segments.items()
    }
    build_ms = timed(rounds, build)
    edition_ms = timed(rounds, edition)
    count = len(segments)

    print(f"Full build of the demo week {SAMPLE_WEEK} (sample data, SQLite; {rounds} rounds, warm)")
    row("gather_week", figures(gather_ms))
    for key, samples in render_ms.items():
        row(f"render {segment_label(key)}", figures(samples))
    for key in empty:
        row(f"render {segment_label(key)}", "nothing this week: not rendered")
    row(f"gather + render, {count} segments, total", figures(build_ms))
    row("gather + render, per segment", figures(build_ms, count))
    row("build_edition (writes it), total", figures(edition_ms))
    row("build_edition (writes it), per segment", figures(edition_ms, count))
    worst = p95(edition_ms) / count
    print(
        f"  target: build under {BUILD_TARGET_MS:.0f} ms per segment: "
        f"{verdict(worst, BUILD_TARGET_MS)} (build_edition p95 {worst:.2f} ms per segment)"
    )


# 2. A template save to the refreshed preview.


class Watcher(Protocol):
    def seen(self, marker: str) -> float | None:
        """Wait until ``marker`` is shown; the server's build_ms of it."""

    def settle(self) -> None:
        """Wait until SpamAssassin's verdict on what is shown has arrived."""


class BrowserWatcher:
    """The preview page in chromium: a round ends when every frame shows the marker."""

    _SHOWN = """(marker) => {
      const frames = Array.from(document.querySelectorAll("iframe[data-width]"));
      return frames.length >= 3 && frames.every((frame) => {
        const body = frame.contentDocument && frame.contentDocument.body;
        return body !== null && body.textContent.includes(marker);
      });
    }"""

    def __init__(self, page: Any) -> None:
        self.page = page

    def seen(self, marker: str) -> float | None:
        self.page.wait_for_function(
            self._SHOWN, arg=marker, polling="raf", timeout=SEEN_SECONDS * 1000
        )
        build_ms: float | None = self.page.evaluate("current.build_ms")
        return build_ms

    def settle(self) -> None:
        self.page.wait_for_function(
            "current.spam !== 'pending'", polling=50, timeout=SETTLE_SECONDS * 1000
        )


class ServerWatcher:
    """What the page does, without the page: the long poll, then the payload."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.payload = self._get("api/preview")

    def _get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:
            data: dict[str, Any] = json.load(answer)
            return data

    def _next(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError("the preview did not change in time")
        self._get(f"api/changes?since={self.payload['version']}")
        self.payload = self._get("api/preview")

    def seen(self, marker: str) -> float | None:
        deadline = time.monotonic() + SEEN_SECONDS
        while marker not in (self.payload.get("html") or ""):
            self._next(deadline)
        build_ms: float | None = self.payload.get("build_ms")
        return build_ms

    def settle(self) -> None:
        deadline = time.monotonic() + SETTLE_SECONDS
        while self.payload.get("spam") == "pending":
            self._next(deadline)


@contextmanager
def preview_process(templates: Path, folder: Path) -> Iterator[str]:
    """``digest preview --sample`` on ``templates``, in a process of its own;
    yields the page's URL, and stops it (SIGTERM, as Ctrl-C) on the way out."""
    log = folder / "preview.log"
    environment = {**os.environ, "TEMPLATES_DIR": str(templates), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker", "preview", "--sample", "--port", "0"],
            cwd=folder,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while (
            found := re.search(r"preview at (http://127\.0\.0\.1:\d+/)", log.read_text())
        ) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench/preview.py: the preview did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield found.group(1)
    finally:
        stop(process)


def browser_page(stack: ExitStack, url: str) -> Any | None:
    """The preview page open in headless chromium, or None (and why) without it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("  playwright is not installed: measuring the server side only")
        return None
    if not CHROMIUM.exists():
        print(f"  {CHROMIUM} is missing: measuring the server side only")
        return None
    playwright = stack.enter_context(sync_playwright())
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    stack.callback(browser.close)
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(url)
    page.wait_for_function("document.body.dataset.version !== undefined")
    return page


def measure_reload(rounds: int) -> None:
    """Save the digest template with a new marker, ``rounds`` times, and time
    until the preview shows it."""
    print()
    print(f"Template save to refreshed preview ({rounds} rounds; `digest preview --sample`")
    print("  in its own process, on a copy of templates/; each round starts once")
    print("  SpamAssassin's verdict on the last one is in)")
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-preview-")))
        templates = folder / "templates"
        shutil.copytree(PROJECT_ROOT / "templates", templates)
        template = templates / TEMPLATE
        original = template.read_text(encoding="utf-8")
        if FOOTER not in original:
            raise SystemExit(f"bench/preview.py: {template}: no {FOOTER!r} to put a marker into")
        url = stack.enter_context(preview_process(templates, folder))
        page = browser_page(stack, url)
        watcher: Watcher = BrowserWatcher(page) if page is not None else ServerWatcher(url)
        watcher.settle()
        elapsed, built = [], []
        for round_ in range(rounds):
            marker = f"bench-{round_:03d}-{secrets.token_hex(4)}"
            edited = original.replace(FOOTER, f"{FOOTER} {marker}", 1)
            start = time.perf_counter()
            template.write_text(edited, encoding="utf-8")
            build_ms = watcher.seen(marker)
            elapsed.append((time.perf_counter() - start) * 1000)
            if build_ms is not None:
                built.append(build_ms)
            watcher.settle()  # so that each round starts from a quiet preview
    where = "all three frames of the page" if page is not None else "the payload (no browser)"
    print(f"  from just before the write until the marker is in {where}:")
    row("save to refreshed preview", f"{figures(elapsed)}   max {max(elapsed):7.2f} ms")
    if built:
        row("server side (the payload's build_ms)", figures(built))
    print(
        f"  target: reload under {RELOAD_TARGET_MS:.0f} ms: "
        f"{verdict(p95(elapsed), RELOAD_TARGET_MS)} (p95 {p95(elapsed):.2f} ms)"
    )


def measure_sample_reload(rounds: int) -> None:
    """What ``digest preview --sample`` does on a change under sample/: a
    new scratch store, migrated, with the sample data loaded (the feeds
    ingested over HTTP on loopback)."""
    settings = load_settings(mail_url="memory://")
    scratch = SampleStore(settings)
    try:
        scratch.load()  # warm
        samples = timed(rounds, scratch.load)
    finally:
        scratch.close()
    print()
    print(f"Sample data reload ({rounds} rounds; the server side of a save under sample/)")
    row("scratch store rebuilt and loaded", figures(samples))
    print(f"  target: a sample-data change shown within a second: {verdict(p95(samples), 1000)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds of each measurement")
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds: at least 2")
    measure_build(args.rounds)
    measure_sample_reload(args.rounds)
    measure_reload(args.rounds)


if __name__ == "__main__":
    main()
