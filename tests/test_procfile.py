"""The Procfile's processes, run the way a platform runs them: the command
read from the Procfile, ``bash -c`` with the venv's ``bin`` on PATH and the
settings in the environment, stopped with SIGTERM to the whole process group
(what Heroku and systemd do). Each must exit 0 within 25 seconds of it.

The delivery engine's own SIGTERM and SIGKILL tests (``worker --once`` and
``send``, in tests/deliver/test_engine.py) count copies batch by batch; here the
long-running ``worker`` of the Procfile is stopped mid-send, restarted and
stopped again once idle. The clock's schedule is tested in
tests/schedule/; here its process is stopped in the middle of a job,
and while it waits for another clock's lock.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, insert, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from tests.support.feedserver import Route, serve_feeds
from tests.support.sample import W48
from tests.support.smtpserver import Handler, free_port, smtp_server
from worker.config import PROJECT_ROOT, Settings
from worker.deliver.editions import build_edition, edition_counts, start_edition
from worker.ingest.importer import import_file
from worker.render.renderer import Renderer
from worker.schedule.locks import StoreLock
from worker.store import alembic_config, current_revision, make_engine
from worker.store.models import Delivery, FetchLog, Subscriber

PROCFILE = PROJECT_ROOT / "Procfile"
CONTENT = PROJECT_ROOT / "sample" / "content.yaml"
# The venv's scripts (digest, gunicorn), as a buildpack puts them on PATH.
VENV_BIN = Path(sys.executable).parent
STOP_SECONDS = 25  # the bound; platforms SIGKILL at 30
SECRET = "procfile-test-secret-key"


def procfile() -> dict[str, str]:
    """Process type → command, as a platform reads the Procfile."""
    processes = {}
    for line in PROCFILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            kind, _, command = line.partition(":")
            processes[kind.strip()] = command.strip()
    return processes


@dataclass
class Launched:
    """A Procfile process, its output kept in files (a pipe nobody reads
    would fill up and stall it)."""

    kind: str
    popen: subprocess.Popen[bytes]
    out: Path
    err: Path

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> int:
        """SIGTERM to the process group; the exit status, failing the test if
        the process is still there after ``STOP_SECONDS``."""
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            return self.popen.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
            pytest.fail(f"{self.kind} still running {STOP_SECONDS} s after SIGTERM")


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[[str, dict[str, str]], Launched]]:
    """Starts Procfile processes; kills whatever a failed test left running."""
    started: list[Launched] = []

    def start(kind: str, env: dict[str, str]) -> Launched:
        n = len(started)
        out, err = tmp_path / f"{kind}{n}.out", tmp_path / f"{kind}{n}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            popen = subprocess.Popen(
                ["bash", "-c", procfile()[kind]],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # its own group, signalled as a whole
            )
        started.append(Launched(kind, popen, out, err))
        return started[-1]

    yield start
    for process in started:
        if process.running():
            os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait()


def platform_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment a platform gives a process: config vars, PORT, PATH."""
    feeds = tmp_path / "feeds.toml"
    feeds.touch()
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "SITE_URL": "https://verdicts.example",
        "MAIL_URL": f"file://{tmp_path / 'outbox'}",
        "FEEDS_FILE": str(feeds),
        "WEB_CONCURRENCY": "2",
        **extra,
    }


def test_the_procfile_has_the_four_processes() -> None:
    processes = procfile()
    assert sorted(processes) == ["clock", "release", "web", "worker"]
    assert processes["release"] == "digest db upgrade"
    assert processes["clock"] == "digest clock"
    assert processes["worker"] == "digest worker"
    web = processes["web"]
    assert web.startswith("gunicorn 'subscribers.web:create_app()'")
    assert "${PORT:-5000}" in web and "--graceful-timeout 25" in web
    assert "gthread" in web and "--threads 8" in web
    # The access log never shows a path: paths hold unsubscribe and vote tokens.
    log_format = re.search(r"--access-logformat '([^']*)'", web)
    assert log_format is not None and "%(U)s" not in log_format[1] and "%(r)s" not in log_format[1]


@pytest.fixture
def empty_store_url(engine: Engine, tmp_path: Path) -> Iterator[str]:
    """A store with no schema at all, on the same server as ``engine``."""
    if engine.dialect.name == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    schema = f"verdict_release_{os.getpid()}"
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = engine.url.update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def test_release_migrates_an_empty_store_and_can_run_again(
    empty_store_url: str, tmp_path: Path
) -> None:
    env = platform_env(empty_store_url, tmp_path)
    for _ in range(2):  # every deploy runs it, on a store already migrated after the first
        done = subprocess.run(
            ["bash", "-c", procfile()["release"]],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "is up to date" in done.stdout
    store = make_engine(empty_store_url)
    try:
        head = ScriptDirectory.from_config(alembic_config(store)).get_current_head()
        assert current_revision(store) == head
        assert {"edition", "delivery", "subscriber"} <= set(inspect(store).get_table_names())
    finally:
        store.dispose()


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for_web(web: Launched, base: str) -> str:
    """The home page, once gunicorn answers on its port."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert web.running(), web.output()[-2000:]
        try:
            status, body = get(f"{base}/", timeout=5)
        except OSError:
            time.sleep(0.1)
            continue
        assert status == 200, body[-2000:]
        return body
    pytest.fail(f"web did not answer within 30 s: {web.output()[-2000:]}")


def test_web_answers_on_port_and_stops_on_sigterm(
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
    launch: Callable[[str, dict[str, str]], Launched],
) -> None:
    import_file(sessions, CONTENT)
    port = free_port()
    web = launch("web", platform_env(database_url, tmp_path, PORT=str(port)))
    base = f"http://127.0.0.1:{port}"

    assert "Developer Tools" in wait_for_web(web, base)  # a category of the sample tools
    assert get(f"{base}/archive")[0] == 200
    token = "not-a-token-but-shaped-like-one"
    get(f"{base}/u/{token}")

    assert web.stop() == 0
    log = web.output()
    assert '"GET" 200' in log  # the access log is on
    assert token not in log and SECRET not in log


def test_web_answers_a_request_in_flight_at_sigterm(
    pg_sessions: sessionmaker[Session],
    tmp_path: Path,
    launch: Callable[[str, dict[str, str]], Launched],
) -> None:
    """A request still waiting on the store when SIGTERM arrives gets its
    answer before gunicorn exits (PostgreSQL: a table lock held by the test
    makes the home page wait without changing the app)."""
    import_file(pg_sessions, CONTENT)
    engine = pg_sessions.kw["bind"]
    port = free_port()
    url = engine.url.render_as_string(hide_password=False)
    web = launch("web", platform_env(url, tmp_path, PORT=str(port)))
    base = f"http://127.0.0.1:{port}"
    wait_for_web(web, base)

    answers: list[tuple[int, str]] = []

    def fetch() -> None:
        try:
            answers.append(get(f"{base}/", timeout=30))
        except OSError as error:  # the connection closed unanswered
            answers.append((0, repr(error)))

    with engine.connect() as locker, engine.connect() as watcher:
        locker.execute(text("LOCK TABLE tool IN ACCESS EXCLUSIVE MODE"))
        request = threading.Thread(target=fetch)
        request.start()
        waiting = text(
            "SELECT count(*) FROM pg_locks WHERE relation = 'tool'::regclass AND NOT granted"
        )
        deadline = time.monotonic() + 10
        while not watcher.scalar(waiting) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watcher.scalar(waiting), "the request never reached the store"
        os.killpg(web.popen.pid, signal.SIGTERM)
        stopped_at = time.monotonic()
        # The idle worker of the two has taken the signal and gone: the
        # other still waits for the request in flight, and so does gunicorn.
        deadline = time.monotonic() + 10
        while "Worker exiting" not in web.output():
            assert time.monotonic() < deadline, web.output()[-2000:]
            time.sleep(0.05)
        assert web.running() and not answers
        locker.commit()  # the store answers
    request.join(timeout=STOP_SECONDS)
    assert answers and answers[0][0] == 200, answers
    assert "Developer Tools" in answers[0][1]
    assert web.popen.wait(timeout=STOP_SECONDS - (time.monotonic() - stopped_at)) == 0


def sent_counts(output: str) -> int:
    """Deliveries a ``digest worker`` run says it sent."""
    found = re.search(r"worker \S+: (\d+) sent", output)
    assert found is not None, output[-2000:]
    return int(found[1])


@pytest.mark.slow
def test_worker_stopped_mid_send_finishes_after_restart_once_each(
    sessions: sessionmaker[Session],
    database_url: str,
    settings: Settings,
    tmp_path: Path,
    launch: Callable[[str, dict[str, str]], Launched],
) -> None:
    batch, total = 20, 300
    import_file(sessions, CONTENT)
    emails = [f"reader{n:04d}@example.com" for n in range(total)]
    with sessions.begin() as session:
        session.execute(
            insert(Subscriber),
            [{"email": e, "status": "confirmed", "categories": ""} for e in emails],
        )
    built = build_edition(sessions, W48, settings, Renderer(settings.templates_dir))
    start_edition(sessions, W48, settings)
    handler = Handler(delay=0.004)  # about 80 ms a batch: SIGTERM lands inside one
    with smtp_server(handler) as server:
        env = platform_env(
            database_url,
            tmp_path,
            MAIL_URL=f"smtp://127.0.0.1:{server.port}?starttls=off",
            DELIVERY_BATCH_SIZE=str(batch),
        )
        first = launch("worker", env)
        deadline = time.monotonic() + 30
        while len(handler.envelopes) < batch + batch // 2 and time.monotonic() < deadline:
            assert first.running(), first.output()[-2000:]
            time.sleep(0.01)
        assert first.stop() == 0, first.output()[-2000:]
        assert len(handler.envelopes) < total  # it stopped mid-send
        with sessions() as session:
            leased = session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.lease_owner.is_not(None))
            )
        assert leased == 0  # the batch in hand recorded, the one ahead handed back

        second = launch("worker", env)
        deadline = time.monotonic() + 60
        while edition_counts(sessions, built.edition_id).status != "sent":
            assert second.running() and time.monotonic() < deadline, second.output()[-2000:]
            time.sleep(0.1)
        assert second.stop() == 0, second.output()[-2000:]  # an idle worker stops too

    delivered = Counter(r for e in handler.envelopes for r in e.rcpt_tos)
    assert set(delivered) == set(emails)  # no loss
    assert max(delivered.values()) == 1  # no copy
    assert sent_counts(first.output()) + sent_counts(second.output()) == total
    with sessions() as session:
        statuses = dict(
            session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
        )
    assert statuses == {"sent": total}


@pytest.mark.slow
def test_clock_stops_on_sigterm_after_the_feed_in_hand(
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
    launch: Callable[[str, dict[str, str]], Launched],
) -> None:
    """SIGTERM while the clock's first job (the catch-up ingest) is fetching
    a slow feed: the fetch finishes and is recorded, the next feed is left
    for the next clock, and the clock exits 0."""
    with serve_feeds(PROJECT_ROOT / "sample" / "feeds") as feeds:
        for name in ("launches.rss.xml", "launches.atom.xml"):
            feeds.routes[f"/slow/{name}"] = Route(file=name, stall=4.0)
        feeds_file = tmp_path / "slow-feeds.toml"
        feeds_file.write_text(
            "".join(
                f'[[feed]]\nurl = "{feeds.url(f"/slow/{name}")}"\n'
                for name in ("launches.rss.xml", "launches.atom.xml")
            )
        )
        # One feed at a time, so that the one in hand is the only one started.
        env = platform_env(
            database_url,
            tmp_path,
            FEEDS_FILE=str(feeds_file),
            FEED_ALLOW_PRIVATE=feeds.address,
            FEED_CONCURRENCY="1",
        )
        clock = launch("clock", env)
        deadline = time.monotonic() + 20
        while not feeds.requests:
            assert clock.running() and time.monotonic() < deadline, clock.output()[-2000:]
            time.sleep(0.05)
        assert clock.stop() == 0, clock.output()[-2000:]
        assert [path for path, _ in feeds.requests] == ["/slow/launches.rss.xml"]
    with sessions() as session:
        fetches = session.execute(select(FetchLog.status, FetchLog.new_launches)).all()
    assert len(fetches) == 1 and fetches[0][0] == 200 and fetches[0][1] > 0


def test_a_clock_waiting_for_the_lock_stops_on_sigterm(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    launch: Callable[[str, dict[str, str]], Launched],
) -> None:
    """During a deploy the new clock waits for the old one's lock; either
    can be stopped with SIGTERM, and exits 0."""
    env = platform_env(database_url, tmp_path)
    first = launch("clock", env)
    probe = StoreLock(engine, "clock")
    deadline = time.monotonic() + 20
    while probe.acquire():  # still free: the first clock has not taken it yet
        probe.release()
        assert first.running() and time.monotonic() < deadline, first.output()[-2000:]
        time.sleep(0.1)
    second = launch("clock", env)
    deadline = time.monotonic() + 20
    while "clock waits" not in second.output():
        assert second.running() and time.monotonic() < deadline, second.output()[-2000:]
        time.sleep(0.1)
    assert second.stop() == 0, second.output()[-2000:]
    assert first.running(), first.output()[-2000:]
    assert first.stop() == 0, first.output()[-2000:]
