"""`digest tick` says what happened, truthfully: feeds in error are errors,
and a missing feeds file is not "nothing due" (issue 13)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.commands import digest
from tests.support.feedserver import serve_feeds
from worker.config import PROJECT_ROOT


def tick_env(database_url: str, feeds: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "MAIL_URL": "memory://",
        "SITE_URL": "http://localhost:5000",
        "FEEDS_FILE": str(feeds),
        "INGEST_EVERY": "1",
    }


def test_a_feed_in_error_is_reported_as_an_error(database_url: str, tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.toml"
    with serve_feeds(PROJECT_ROOT / "sample" / "feeds") as server:
        feeds.write_text(
            f'[[feed]]\nurl = "{server.url("/launches.rss.xml")}"\n'
            f'[[feed]]\nurl = "{server.url("/launches.atom.xml")}"\n'
            f'[[feed]]\nurl = "{server.url("/gone-missing.xml")}"\n'
        )
        env = {**tick_env(database_url, feeds), "FEED_ALLOW_PRIVATE": server.address}
        done = digest(env, "tick")
    assert done.returncode == 2, done.stderr  # feeds failed; the tick itself did not
    assert "2 feeds ingested (" in done.stdout and "1 feed failed" in done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: ingest: {server.url('/gone-missing.xml')}: HTTP 404 Not Found"]


def test_a_missing_feeds_file_is_an_error_not_nothing_due(
    database_url: str, tmp_path: Path
) -> None:
    done = digest(tick_env(database_url, tmp_path / "nope.toml"), "tick")
    assert done.returncode == 1
    assert "nothing due" not in done.stdout
    assert f"FEEDS_FILE: {tmp_path / 'nope.toml'} does not exist" in done.stderr
