"""What the preview's tests share: the `digest` command's environment, the
parts of a message, the page's payload, template edits, and the watcher of
a live preview running, waited on with a deadline."""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from worker.editor.live import LivePreview
from worker.editor.sample import SAMPLE_WEEK

WEEK = str(SAMPLE_WEEK)
# A change must show well within this; the target (under a second) is
# measured in bench/, not asserted here.
CHANGE_TIMEOUT = 10.0
FOOTER = "You get this email because"
DIGEST_TEMPLATE = Path("email") / "digest.mjml.j2"
# The subject sample/editions/2026-W48.md gives the sample week.
SAMPLE_SUBJECT = "Week 48's verdicts: where the panel split, and what the readers say"
FILES_API_TAGLINE = "Persistent file storage for Claude API — upload once, reference forever"


def cli_env(database_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a `digest` process; ``load_settings(env)`` gives
    the test the same settings the process runs with."""
    env = {
        **os.environ,
        "SITE_URL": "https://verdicts.example",
        "SECRET_KEY": "preview-test-secret",
        "MAIL_FROM": "Weekly AI Tool Verdicts <digest@verdicts.example>",
        "POSTAL_ADDRESS": "1 Test Street, Testville",
        "DIGEST_TIMEZONE": "Europe/Berlin",
        "MAIL_URL": "memory://",
        **extra,
    }
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


def get(url: str) -> bytes:
    """The body at ``url``."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in ``path`` with ``new`` (it must be there)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@contextmanager
def watching(live: LivePreview) -> Iterator[LivePreview]:
    """``live`` with its watcher thread running, as `digest preview` runs it."""
    stop = threading.Event()
    thread = threading.Thread(target=live.watch, args=(stop,), daemon=True)
    thread.start()
    try:
        yield live
    finally:
        stop.set()
        thread.join(timeout=5)
        live.close()


def wait_for(
    live: LivePreview, segment: str, shown: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The payload once ``shown`` holds for it, following version bumps;
    fails after CHANGE_TIMEOUT (an edit is seen mid-write at times: the
    version then moves twice)."""
    deadline = time.monotonic() + CHANGE_TIMEOUT
    while True:
        version = live.version
        payload = live.payload(segment)
        if shown(payload):
            return payload
        left = deadline - time.monotonic()
        assert left > 0, f"not shown within {CHANGE_TIMEOUT} s; last: {payload.get('error')}"
        live.wait_for_change(version, left)


def store_reads(caplog: pytest.LogCaptureFixture) -> int:
    """How often the watcher has read the store (its DEBUG line)."""
    return sum(record.getMessage() == "preview read the store" for record in caplog.records)


def wait_for_store_reads(caplog: pytest.LogCaptureFixture, more: int) -> None:
    """Until the watcher has read the store ``more`` times from now, each
    look done (its version bumped if it saw a change); the first may be of
    a look under way."""
    wanted = store_reads(caplog) + more
    deadline = time.monotonic() + CHANGE_TIMEOUT
    while store_reads(caplog) < wanted:
        assert time.monotonic() < deadline, f"the store was not read {more} times"
        time.sleep(0.02)


def payload_of(index: str) -> dict[str, Any]:
    """The data the preview page ``index`` carries inside it."""
    found = re.search(r'<script id="payload" type="application/json">(.*?)</script>', index, re.S)
    assert found
    data = json.loads(found[1])
    assert isinstance(data, dict)
    return data
