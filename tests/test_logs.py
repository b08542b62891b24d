"""Logs: JSON lines off a terminal, readable lines on one, and no secret in
either, down to a whole demo run searched for the environment's secrets; no
control character in a JSON line, and no library chatter unless -v."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.logging import RichHandler
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.feedserver import allowing
from tests.support.signals import running
from worker.config import Settings
from worker.errors import ConfigError
from worker.ingest.feeds import FeedSpec
from worker.ingest.runner import ingest_feeds
from worker.logs import (
    RedactSecrets,
    configure_logging,
    log_format,
    log_level,
    make_handler,
    redact,
    secret_values,
)
from worker.store.models import Feed


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def log() -> Iterator[logging.Logger]:
    """A logger of its own, kept from the root's handlers."""
    logger = logging.getLogger("tests.logs")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger
    logger.handlers.clear()


def lines_of(
    logger: logging.Logger, environ: dict[str, str], stream: io.StringIO | None = None
) -> io.StringIO:
    stream = stream or io.StringIO()
    logger.handlers.clear()
    logger.addHandler(make_handler(environ, stream=stream))
    return stream


def test_a_json_line_holds_time_level_logger_event_and_the_extras(log: logging.Logger) -> None:
    out = lines_of(log, {"LOG_FORMAT": "json"})
    before = dt.datetime.now(dt.UTC)
    log.info("batch sent", extra={"edition": "2026-W48", "sent": 100, "at": before})
    try:
        raise ValueError("the relay hung up")
    except ValueError:
        log.exception("batch failed", extra={"edition": "2026-W48"})
    first, second = (json.loads(line) for line in out.getvalue().splitlines())

    assert list(first)[:4] == ["time", "level", "logger", "event"]
    assert first["level"] == "INFO" and first["logger"] == "tests.logs"
    assert first["event"] == "batch sent"
    assert first["edition"] == "2026-W48" and first["sent"] == 100
    assert first["at"] == before.isoformat()
    moment = dt.datetime.fromisoformat(first["time"])
    assert moment.utcoffset() == dt.timedelta(0) and first["time"].endswith("Z")
    assert abs(moment - before) < dt.timedelta(seconds=5)

    assert second["level"] == "ERROR" and second["event"] == "batch failed"
    assert (
        "Traceback" in second["exception"]
        and "ValueError: the relay hung up" in (second["exception"])
    )


def test_a_message_with_arguments_is_formatted_into_the_event(log: logging.Logger) -> None:
    out = lines_of(log, {"LOG_FORMAT": "json"})
    log.warning("%s: finishing the batch in hand", "SIGTERM", extra={"signal": "SIGTERM"})
    entry = json.loads(out.getvalue())
    assert entry["event"] == "SIGTERM: finishing the batch in hand"
    assert entry["signal"] == "SIGTERM"


def test_text_lines_put_the_extras_after_the_message(log: logging.Logger) -> None:
    out = lines_of(log, {"LOG_FORMAT": "text"})
    log.info("feed failed", extra={"feed": "https://x.example/feed", "error": "HTTP 500 oops"})
    line = out.getvalue().strip()
    assert line.endswith(
        'INFO tests.logs feed failed feed=https://x.example/feed error="HTTP 500 oops"'
    )
    assert dt.datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")


def test_the_format_follows_the_terminal_unless_log_format_says(log: logging.Logger) -> None:
    assert isinstance(make_handler({}, stream=Terminal()), RichHandler)
    assert isinstance(make_handler({}, stream=io.StringIO()).formatter, logging.Formatter)
    assert log_format({}, terminal=False) == "json"
    assert log_format({}, terminal=True) == "text"
    assert log_format({"LOG_FORMAT": "JSON"}, terminal=True) == "json"
    assert log_format({"LOG_FORMAT": "text"}, terminal=False) == "text"

    screen = lines_of(log, {}, Terminal())
    log.warning("edition built", extra={"edition": "2026-W48", "segments": 3})
    shown = re.sub(r"\x1b\[[0-9;]*m", "", screen.getvalue())  # colours off
    assert "WARNING" in shown and "edition built edition=2026-W48 segments=3" in shown
    assert "{" not in shown


def test_the_level_follows_log_level_and_verbose() -> None:
    assert log_level({}, terminal=True) == logging.WARNING
    assert log_level({}, terminal=False) == logging.INFO
    assert log_level({}, terminal=True, verbose=True) == logging.INFO
    assert log_level({"LOG_LEVEL": "debug"}, terminal=True) == logging.DEBUG
    assert log_level({"LOG_LEVEL": "ERROR"}, terminal=False) == logging.ERROR
    assert log_level({"LOG_LEVEL": "ERROR"}, terminal=False, verbose=True) == logging.INFO


@pytest.mark.parametrize(("variable", "value"), [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud")])
def test_a_bad_log_setting_is_one_line_naming_it(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}: must be"):
        configure_logging(environ={variable: value})
    done = subprocess.run(
        [sys.executable, "-m", "worker", "status", "--week", "2026-W48"],
        env={**os.environ, variable: value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {variable}: must be") and "Traceback" not in done.stderr


SECRETS = {
    "SECRET_KEY": "sk-9f8e7d6c5b4a",
    "OLD_SECRET_KEYS": "old-key-one-1111, old-key-two-2222",
    "DATABASE_URL": "postgresql://digest:db%2Fpass%40word@db.example:5432/digest",
    "MAIL_URL": "smtp://mailer:mail-pass-7391@smtp.example:587",
    "BOUNCE_IMAP_URL": "imaps://bounces:imap-pass-4242@imap.example/INBOX",
    "POSTMARK_WEBHOOK_PASSWORD": "hook-pass-5150",
    "METRICS_TOKEN": "metrics-token-8080",
    "SOME_API_SECRET": "api-secret-3030",
    "REDIS_URL": "redis://:redis-pass-6060@cache.example:6379/0",
    "SHORT_PASSWORD": "abc",
}


def test_secret_values_are_read_from_names_and_urls() -> None:
    found = set(secret_values({**SECRETS, "PATH": "/usr/bin", "SITE_URL": "https://x.example"}))
    assert found >= {
        "sk-9f8e7d6c5b4a",
        "old-key-one-1111",
        "old-key-two-2222",
        "db%2Fpass%40word",
        "db/pass@word",  # as the driver would quote it, decoded
        "mail-pass-7391",
        "imap-pass-4242",
        "hook-pass-5150",
        "metrics-token-8080",
        "api-secret-3030",
        "redis-pass-6060",
    }
    assert "abc" not in found and "/usr/bin" not in found
    # A token alone before the "@" is the secret; a path with an "@" is not.
    assert secret_values({"MAIL_URL": "postmark://tok-en-1234@api.postmarkapp.com"}) == [
        "tok-en-1234"
    ]
    assert secret_values({"FEED": "https://medium.com/@someone/feed"}) == []


def test_redaction_reaches_message_arguments_extras_and_exception(log: logging.Logger) -> None:
    out = lines_of(log, {**SECRETS, "LOG_FORMAT": "json"})

    class Opaque:
        def __str__(self) -> str:
            return "opaque holding mail-pass-7391"

    try:
        raise RuntimeError("login failed for mailer:mail-pass-7391")
    except RuntimeError:
        log.error(
            "key %s, old %s, url %s",
            "sk-9f8e7d6c5b4a",
            "old-key-two-2222",
            "smtp://someone:never-seen-pass@relay.example",
            exc_info=True,
            stack_info=True,
            extra={
                "error": "password db/pass@word rejected",
                "nested": {"token": ["metrics-token-8080"]},
                "thing": Opaque(),
                "count": 3,
            },
        )
    text = out.getvalue()
    for secret in [*secret_values(SECRETS), "never-seen-pass"]:
        assert secret not in text, secret
    entry = json.loads(text)
    assert entry["event"] == "key ***, old ***, url smtp://someone:***@relay.example"
    assert entry["error"] == "password *** rejected"
    assert entry["nested"] == {"token": ["***"]}
    assert entry["thing"] == "opaque holding ***" and entry["count"] == 3
    assert "login failed for mailer:***" in entry["exception"]
    assert "stack" in entry


def test_redact_keeps_urls_without_a_password() -> None:
    assert redact("https://medium.com/@someone/feed", []) == "https://medium.com/@someone/feed"
    assert redact("fetch https://u:p4ss@x.example/f ok", []) == "fetch https://u:***@x.example/f ok"
    assert redact("a sk-1234 b", ["sk-1234"]) == "a *** b"


def test_a_log_call_with_bad_arguments_logs_them_and_never_raises(log: logging.Logger) -> None:
    out = lines_of(log, {"LOG_FORMAT": "json"})
    log.warning("%d items for %s", "x", "smtp://u:pass-1234@relay.example")
    entry = json.loads(out.getvalue())
    assert entry["event"] == "%d items for %s ('x', 'smtp://u:***@relay.example')"

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

        def __repr__(self) -> str:
            raise RuntimeError("no")

    record = logging.LogRecord("x", logging.INFO, __file__, 1, Unprintable(), ("a",), None)
    assert RedactSecrets([]).filter(record)
    assert isinstance(record.getMessage(), str)


def test_a_password_holding_a_slash_or_an_at_is_masked_whole() -> None:
    assert redact("get https://u:pa/ss@host/feed now", []) == "get https://u:***@host/feed now"
    assert redact("https://u:p@ss@host/feed", []) == "https://u:***@host/feed"
    assert redact("smtp://mailer:a/b?c#d@relay.example:587", []) == (
        "smtp://mailer:***@relay.example:587"
    )
    # An "@" in a path is not a password, nor are two URLs on one line.
    assert redact("https://medium.com/@someone/feed", []) == "https://medium.com/@someone/feed"
    assert redact("https://a.example/x and https://u:p4ss@b.example/y", []) == (
        "https://a.example/x and https://u:***@b.example/y"
    )


def test_credential_like_url_parameters_are_masked_in_any_text() -> None:
    line = "GET 'https://f.example/rss?page=2&access_token=abc-5150' failed; see #auth=x9"
    assert redact(line, []) == (
        "GET 'https://f.example/rss?page=2&access_token=***' failed; see #auth=***"
    )
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "fetched %s", ("/f?key=k-77",), None)
    record.feed = "https://f.example/rss?apikey=k-77&lang=en"
    assert RedactSecrets([]).filter(record)
    assert (record.getMessage(), record.feed) == (
        "fetched /f?key=***",
        "https://f.example/rss?apikey=***&lang=en",
    )


def test_a_failed_feeds_error_shows_its_url_without_the_password(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    feeds = [
        FeedSpec("http://reader:feed-pw-5150@127.0.0.1:9/feed"),  # unreachable
        FeedSpec("http://reader:pa/ss-5150@127.0.0.1:9/feed"),  # a bad URL
    ]
    quick = allowing(dataclasses.replace(settings, feed_timeout=2), "127.0.0.1:9")
    report = ingest_feeds(sessions, feeds, quick)
    errors = [result.error or "" for result in report.feeds]
    assert [result.status for result in report.feeds] == ["error", "error"]
    assert errors[0].startswith("http://reader:***@127.0.0.1:9/feed: unreachable")
    assert errors[1].startswith("http://reader:***@127.0.0.1:9/feed: the feed URL")
    with sessions() as session:
        recorded = " ".join(session.scalars(select(Feed.last_error)).all())
    for text in [*errors, recorded]:
        assert "feed-pw-5150" not in text and "ss-5150" not in text


def test_the_filter_works_for_every_handler_behind_it() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "got %r", ("sk-9f8e",), None)
    assert RedactSecrets(["sk-9f8e"]).filter(record)
    assert record.getMessage() == "got '***'"


def test_a_process_logs_through_the_redacting_handler(tmp_path: Path) -> None:
    """What main() installs, in a process of its own: a secret logged by
    mistake comes out masked."""
    program = (
        "import logging, os\n"
        "from worker.logs import configure_logging\n"
        "configure_logging()\n"
        "logging.getLogger('worker.x').warning('oops %s', os.environ['SECRET_KEY'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        env={**os.environ, "SECRET_KEY": "leaky-secret-1234", "LOG_FORMAT": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stderr) | {"time": None} == {
        "time": None,
        "level": "WARNING",
        "logger": "worker.x",
        "event": "oops ***",
    }


def test_the_json_log_of_a_demo_run_holds_no_secret(tmp_path: Path) -> None:
    secrets = {
        "SECRET_KEY": "demo-secret-key-6f1c2a9b8e7d",
        "OLD_SECRET_KEYS": "demo-old-key-41d3e5",
        "DATABASE_URL": "postgresql://digest:demo-db-pass-92c1@127.0.0.1:1/digest",
        "MAIL_URL": "smtp://mailer:demo-mail-pass-77a0@127.0.0.1:1",
        "BOUNCE_IMAP_URL": "imaps://b:demo-imap-pass-5e5e@127.0.0.1:1/INBOX",
        "POSTMARK_WEBHOOK_PASSWORD": "demo-hook-pass-0b0b",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_")}
    done = subprocess.run(
        [sys.executable, "-m", "worker", "demo", "--dir", str(tmp_path / "demo")],
        env={**env, **secrets, "LOG_LEVEL": "INFO"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    output = done.stdout + done.stderr
    for value in [*secrets.values(), *secret_values(secrets)]:
        assert value not in output, value
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert all({"time", "level", "logger", "event"} <= set(e) for e in entries)
    events = {e["event"]: e for e in entries}
    assert events["edition built"]["edition"] == "2026-W48"
    assert events["edition started"]["queued"] == 8
    assert events["feed ingested"]["result"] == "ok"
    assert "edition sent" in events


def test_a_json_line_carries_no_terminal_escape_and_no_control_character(
    log: logging.Logger,
) -> None:
    out = lines_of(log, {"LOG_FORMAT": "json"})
    coloured = "\x1b[33m\x1b[1m127.0.0.1 - GET /nope 404\x1b[0m"
    try:
        raise ValueError("bell\x07 and \x1b]0;a title\x07 and del\x7f")
    except ValueError:
        log.exception(coloured, extra={"detail": "a\x85b\u2028c\x00d\re", "feeds": ["\x1b[31mx"]})
    line = out.getvalue().rstrip("\n")
    assert "\n" not in line
    assert not [c for c in line if unicodedata.category(c) in ("Cc", "Zl", "Zp")], line
    entry = json.loads(line)
    assert entry["event"] == "127.0.0.1 - GET /nope 404"
    assert entry["detail"] == r"a\x85b\u2028c\x00d\x0de"
    assert entry["feeds"] == ["x"]
    assert r"ValueError: bell\x07 and  and del\x7f" in entry["exception"]
    assert "\n" in entry["exception"]  # a traceback keeps its lines, escaped by JSON


def stderr_entries(*args: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """Every line ``digest ARGS`` writes to standard error off a terminal,
    read as JSON (a line that is not fails the test)."""
    done = subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stderr.splitlines()]


@pytest.mark.parametrize("args", [("db", "upgrade"), ("lint", "--sample", "--no-spam")])
def test_alembics_own_lines_are_left_out_unless_verbose(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_")}
    env |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}", "SECRET_KEY": "logs-test"}
    quiet = stderr_entries(*args, env=env)
    assert not [e for e in quiet if e["logger"].startswith("alembic")], quiet
    (tmp_path / "store.sqlite3").unlink(missing_ok=True)
    verbose = stderr_entries("-v", *args, env=env)
    told = {e["event"] for e in verbose if e["logger"].startswith("alembic")}
    assert {"Context impl SQLiteImpl.", "Will assume non-transactional DDL."} <= told


def test_the_web_servers_request_lines_are_plain_json(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_")}
    store = tmp_path / "store.sqlite3"
    env |= {"DATABASE_URL": f"sqlite:///{store}", "SECRET_KEY": "logs-test"}
    stderr_entries("db", "upgrade", env=env)
    with running(env, tmp_path, "web", "--port", "0") as web:
        web.wait_for("(Ctrl-C stops)")
        url = re.search(r"subscriber pages at (http://\S+/)", web.stdout())
        assert url is not None, web.tail()
        with pytest.raises(urllib.error.HTTPError):  # Werkzeug colours a 404's line
            urllib.request.urlopen(f"{url[1]}no-such-page", timeout=30)
        web.wait_for('" 404 ')
        web.signal(signal.SIGTERM, "process")
        assert web.stopped() == 0, web.tail()
    entries = [json.loads(line) for line in web.stderr().splitlines()]
    requests = [e for e in entries if e["logger"] == "werkzeug"]
    assert requests and all("\x1b" not in e["event"] for e in requests), requests
    assert "\\u001b" not in web.stderr() and "\x1b" not in web.stderr()
