"""Render benchmark: gather + render of the demo week, per segment, and the
HTML size of the demo digest and of a heavy week (5 comparisons, 30 launches),
with their content links as they are and counted (CLICK_COUNTS, about 80
bytes a link).

    .venv/bin/python bench/render.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from subscribers.csvio import import_csv
from tests.support.digests import big_digest
from worker.config import PROJECT_ROOT, load_settings
from worker.domain.clicks import edition_links
from worker.domain.segments import digest_for_segment
from worker.domain.weeks import Week
from worker.gather import gather_week
from worker.ingest.importer import import_file
from worker.render.renderer import Renderer
from worker.store import make_engine, session_factory, upgrade
from worker.store.models import Subscriber


def timed(runs: int, work) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(database_url=f"sqlite:///{folder}/bench.sqlite3")
        engine = make_engine(settings.database_url)
        upgrade(engine)
        sessions = session_factory(engine)
        import_file(sessions, PROJECT_ROOT / "sample" / "content.yaml")
        import_csv(sessions, PROJECT_ROOT / "sample" / "subscribers.csv")
        renderer = Renderer(settings.templates_dir)
        week = Week(2026, 48)
        with sessions() as session:
            keys = sorted({"", *session.scalars(select(Subscriber.categories).distinct())})
            gather_ms = timed(50, lambda: gather_week(session, week, settings))
            digest = gather_week(session, week, settings)
        segments = [digest_for_segment(digest, key) for key in keys]
        segments = [s for s in segments if not s.is_empty]
        render_ms = timed(50, lambda: [renderer.render(s) for s in segments]) / len(segments)
        demo_html = len(renderer.render(digest).html.encode())
        heavy_html = len(renderer.render(big_digest(5, 30)).html.encode())
        clicks = edition_links(settings, str(week))
        demo_counted = len(renderer.render(digest, clicks).html.encode())
        heavy_counted = len(renderer.render(big_digest(5, 30), clicks).html.encode())
        heavy_ms = timed(50, lambda: renderer.render(big_digest(5, 30)))
        engine.dispose()
    print(f"gather of the demo week (SQLite):        {gather_ms:6.2f} ms")
    print(f"render per segment ({len(segments)} segments):        {render_ms:6.2f} ms")
    print(f"render of 5 comparisons + 30 launches:   {heavy_ms:6.2f} ms")
    print(f"HTML of the demo digest (all categories): {demo_html:6d} bytes")
    print(f"  with its links counted:                 {demo_counted:6d} bytes")
    print(
        f"HTML of 5 comparisons + 30 launches:      {heavy_html:6d} bytes (Gmail clips at 102 KB)"
    )
    print(f"  with its links counted:                 {heavy_counted:6d} bytes")


if __name__ == "__main__":
    main()
