"""The long-running commands stop on SIGTERM and on Ctrl-C (SIGINT) at once
and exit 0, whichever thread the signal lands in: ``clock``, ``worker``
(idle, waiting for work) and ``web``. ``preview``'s test is in
tests/editor/test_server.py; ``send`` and ``worker`` stopped mid-send are in
tests/deliver/test_engine.py and tests/test_procfile.py.

Each waits for the process to say it is ready before signalling it, then
for its exit with a deadline."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.sample import W48, build_sample_week
from tests.support.signals import LANDINGS, running
from worker.config import Settings
from worker.deliver.editions import start_edition
from worker.deliver.runner import IDLE_POLL_SECONDS
from worker.schedule.clock import LOCK_CHECK_SECONDS
from worker.store import make_engine, session_factory

SIGNALS = [signal.SIGTERM, signal.SIGINT]


@pytest.fixture
def env(sqlite_template: Path, tmp_path: Path) -> dict[str, str]:
    """A store of its own (the signals do not depend on the store's kind),
    no feeds, a file outbox."""
    store = tmp_path / "store.sqlite3"
    shutil.copyfile(sqlite_template, store)
    (tmp_path / "feeds.toml").write_text("")
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{store}",
        "MAIL_URL": f"file://{tmp_path / 'outbox'}",
        "SITE_URL": "https://verdicts.example",
        "SECRET_KEY": "signals-test-secret",
        "FEEDS_FILE": str(tmp_path / "feeds.toml"),
    }


@pytest.mark.parametrize("lands", LANDINGS)
@pytest.mark.parametrize("signum", SIGNALS)
def test_the_clock_stops_on_a_signal(
    env: dict[str, str], tmp_path: Path, signum: signal.Signals, lands: str
) -> None:
    with running(env, tmp_path, "clock") as clock:
        clock.wait_for("clock caught up")  # scheduling, its job threads started
        began = time.monotonic()
        clock.signal(signum, lands)
        assert clock.stopped() == 0, clock.tail()
        # Well before the scheduler's next wake-up, which it does not wait for.
        assert time.monotonic() - began < LOCK_CHECK_SECONDS / 2
    assert "clock stopped" in clock.stderr() and "Traceback" not in clock.stderr()


@pytest.mark.parametrize("lands", LANDINGS)
@pytest.mark.parametrize("signum", SIGNALS)
def test_an_idle_worker_stops_on_a_signal_at_once(
    env: dict[str, str], settings: Settings, tmp_path: Path, signum: signal.Signals, lands: str
) -> None:
    sessions = session_factory(make_engine(env["DATABASE_URL"]))
    build_sample_week(sessions, settings)
    start_edition(sessions, W48, settings)
    with running(env, tmp_path, "worker") as worker:
        # Sent, so its lease thread is there; now it waits for work.
        worker.wait_for("edition sent")
        began = time.monotonic()
        worker.signal(signum, lands)
        assert worker.stopped() == 0, worker.tail()
        # Well before its next look for work: the signal woke its wait.
        assert time.monotonic() - began < IDLE_POLL_SECONDS / 2
    assert re.search(r"worker \S+: 8 sent", worker.stdout()), worker.tail()
    assert "Traceback" not in worker.stderr()


@pytest.mark.parametrize("lands", LANDINGS)
@pytest.mark.parametrize("signum", SIGNALS)
def test_web_stops_on_a_signal(
    env: dict[str, str], tmp_path: Path, signum: signal.Signals, lands: str
) -> None:
    with running(env, tmp_path, "web", "--port", "0") as web:
        web.wait_for("(Ctrl-C stops)")
        url = re.search(r"subscriber pages at (http://\S+/)", web.stdout())
        assert url is not None, web.tail()
        with urllib.request.urlopen(url[1], timeout=30) as response:
            assert response.status == 200
        web.signal(signum, lands)
        assert web.stopped() == 0, web.tail()
    assert "web stopped" in web.stdout() and "Traceback" not in web.stderr()
