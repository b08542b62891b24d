"""What the ingest tests share: a feed server on loopback holding the
sample feeds and the bad ones of tests/fixtures/feeds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.feedserver import FeedServer, serve_feeds
from worker.config import PROJECT_ROOT

SAMPLE_FEEDS = PROJECT_ROOT / "sample" / "feeds"
BAD_FEEDS = PROJECT_ROOT / "tests" / "fixtures" / "feeds"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FeedServer]:
    for folder in (SAMPLE_FEEDS, BAD_FEEDS):
        for path in folder.glob("*.xml"):
            (tmp_path / path.name).write_bytes(path.read_bytes())
    with serve_feeds(tmp_path) as running:
        yield running
