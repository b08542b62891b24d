"""Tables never cut a value: a table where it fits the terminal, a line per
row where it does not and off a terminal (issue 13)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from tests.support.feedserver import serve_feeds
from tests.support.sample import W48, build_sample_week
from worker.cli.tables import fitted_lines
from worker.config import PROJECT_ROOT, Settings

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_a_terminal(env: dict[str, str], *args: str, deadline: float = 60) -> str:
    """``digest ARGS`` with a pseudo-terminal for its output, as a person
    runs it: what it printed, colours removed."""
    parent, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "worker", *args], stdout=child, stderr=child, env=env
    )
    os.close(child)
    chunks, end = [], time.monotonic() + deadline
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([parent], [], [], end - time.monotonic())
            try:
                chunk = os.read(parent, 65536) if ready else b""
            except OSError:  # the other end closed: the command is done
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=max(1.0, end - time.monotonic())) in (0, 2)
    finally:
        os.close(parent)
        process.kill()
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")


def test_status_and_ingest_at_80_columns_cut_nothing(
    database_url: str, sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    build_sample_week(sessions, settings)
    env = {**os.environ, "DATABASE_URL": database_url, "MAIL_URL": "memory://", "COLUMNS": "80"}
    with serve_feeds(PROJECT_ROOT / "sample" / "feeds") as server:
        feeds = tmp_path / "feeds.toml"
        long_url = server.url("/launches.rss.xml?" + "page=1&" * 8 + "sort=newest")
        feeds.write_text(f'[[feed]]\nurl = "{long_url}"\n')
        allowed = {**env, "FEED_ALLOW_PRIVATE": server.address}
        ingested = on_a_terminal(allowed, "ingest", "--feeds", str(feeds))
        status = on_a_terminal(env, "status")
    for output in (ingested, status):
        assert "…" not in output, output
        assert long_url in output.replace("\n", ""), output
    assert str(W48) in status and "ready" in status


def test_a_table_is_a_table_where_it_fits_and_lines_elsewhere() -> None:
    table = Table("edition", "status", "queued", title="Editions")
    table.add_row("2026-W48", "sending", "1200")
    table.add_row("(none before)")
    wide = Console(force_terminal=True, width=120)
    assert fitted_lines(wide, table) == [table]
    expected = ["[bold]Editions[/]", "  2026-W48: status sending; queued 1200", "  (none before)"]
    assert fitted_lines(Console(force_terminal=True, width=20), table) == expected
    with open(os.devnull, "w") as nowhere:  # off a terminal: lines, however wide
        assert fitted_lines(Console(file=nowhere, width=200), table) == expected
