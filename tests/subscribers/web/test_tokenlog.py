"""Link tokens kept out of the logs (subscribers/web/tokenlog.py): the request
log of ``digest web``, run as an operator runs it, and an unhandled error on
a token route."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from subscribers.web.tokenlog import TOKEN_PREFIXES, masked
from tests.support.pages import ONE_CLICK, token
from tests.support.processes import stop
from tests.support.smtpserver import free_port
from tests.support.subscribers import add_confirmed
from tests.support.webapp import watching
from worker.config import PROJECT_ROOT, Settings
from worker.domain.tokens import Purpose
from worker.store import make_engine, session_factory

# Werkzeug colours its request lines, in a JSON log too.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_the_masked_routes_are_the_routes_with_a_token(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    app = create_app(settings, sessions=sessions)
    with_token = {
        rule.rule.split("<token>")[0]
        for rule in app.url_map.iter_rules()
        if "token" in rule.arguments
    }
    assert with_token == set(TOKEN_PREFIXES)
    line = '127.0.0.1 - - "POST /vote/ab.c-d_e/claude-files-api/ship?x=1 HTTP/1.1" 200 -'
    assert masked(line) == '127.0.0.1 - - "POST /vote/***/claude-files-api/ship?x=1 HTTP/1.1" 200 -'
    assert masked("GET /archive/2026-W48 HTTP/1.1") == "GET /archive/2026-W48 HTTP/1.1"
    # A counted link names no one, but with the reader's address beside it
    # the line would say what they read: its destination goes too.
    click = (
        '10.1.2.3 - - "GET /r/2026-W48.l.parcelbot.AbC-d_e?to=https://p.example/?a=1&b=2 '
        'HTTP/1.1" 302 -'
    )
    assert masked(click) == '10.1.2.3 - - "GET /r/*** HTTP/1.1" 302 -'


def wait_until_listening(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while True:
        assert process.poll() is None, "digest web stopped"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert time.monotonic() < deadline, "digest web did not listen"
            time.sleep(0.05)


def request(url: str, data: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_digest_web_logs_requests_with_their_token_masked(
    settings: Settings, sqlite_template: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store.sqlite3"
    shutil.copyfile(sqlite_template, store)
    subscriber_id = add_confirmed(
        session_factory(make_engine(f"sqlite:///{store}")), "leaver@example.com"
    )
    link = token(settings, Purpose.UNSUBSCRIBE, subscriber_id)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{store}",
        "MAIL_URL": "memory://",
        "SITE_URL": "https://verdicts.example",
        "SECRET_KEY": settings.secret_key,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker", "web", "--port", str(port)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            wait_until_listening(port, process, time.monotonic() + 60)
            base = f"http://127.0.0.1:{port}"
            assert request(f"{base}/u/{link}") == 200
            assert request(f"{base}/u/{link}", b"List-Unsubscribe=One-Click") == 200
            assert request(f"{base}/confirm/{link}x") == 400
        finally:
            stop(process)
    logged = out.read_text() + err.read_text()
    assert link not in logged
    events = [
        ANSI.sub("", json.loads(line)["event"])
        for line in logged.splitlines()
        if line.startswith("{")
    ]
    requests = [e.split("] ", 1)[1] for e in events if "HTTP/1.1" in e]
    assert requests == [
        '"GET /u/*** HTTP/1.1" 200 -',
        '"POST /u/*** HTTP/1.1" 200 -',
        '"GET /confirm/*** HTTP/1.1" 400 -',
    ]


def test_an_unhandled_error_on_a_token_route_logs_no_token(
    settings: Settings, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    # A template that fails, quoting the token in its error, as a bug might.
    templates = tmp_path / "templates"
    shutil.copytree(settings.templates_dir, templates)
    (templates / "web" / "unsubscribed.html").write_text(
        "{{ {}.__getitem__(request.view_args.token) }}", encoding="utf-8"
    )
    app = create_app(replace(settings, templates_dir=templates), sessions=sessions)
    subscriber_id = add_confirmed(sessions, "leaver@example.com")
    link = token(settings, Purpose.UNSUBSCRIBE, subscriber_id)
    with watching("subscribers.web") as log:
        answer = app.test_client().post(f"/u/{link}", data=ONE_CLICK)
    assert answer.status_code == 500
    (record,) = [r for r in log.records if r.getMessage() == "unhandled error"]
    assert (record.path, record.method) == ("/u/***", "POST")  # type: ignore[attr-defined]
    assert record.exc_text is not None and "KeyError: '***'" in record.exc_text
    assert "Traceback (most recent call last)" in record.exc_text
    assert all(link not in f"{r.getMessage()} {r.exc_text} {vars(r)}" for r in log.records)
