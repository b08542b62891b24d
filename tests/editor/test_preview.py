"""The editor's preview (issue 6) against real parts: the preview server on
loopback, messages captured by a real SMTP server (aiosmtpd), the `digest`
command in a subprocess, the watcher thread seeing real file and store edits.

The preview must show what subscribers get: its HTML is compared byte for
byte with what `digest send --test` and a real `digest send` put on the
wire. Their send times are read back from the captured messages (a test's
Message-ID names its microsecond, a delivery's Date its second, which is
all its signed links hold), so the preview is composed at the same moment.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from support.commands import digest
from support.postmarkserver import TOKEN, FakePostmark, postmark_server
from support.smtpserver import Handler, smtp_server
from worker.compose.message import Recipient, SegmentParts
from worker.config import PROJECT_ROOT, Settings, load_settings
from worker.deliver.editions import build_edition, start_edition
from worker.editor.lint.rules import CHECKS, Level
from worker.editor.live import LivePreview
from worker.editor.page import PageRenderer
from worker.editor.preview import (
    SAMPLE_READER,
    WeekSource,
    compose_preview,
    dark_mode,
    edition_findings,
    read_week,
)
from worker.editor.sample import SAMPLE, SAMPLE_WEEK, SampleStore, load_sample
from worker.editor.server import serving
from worker.render.renderer import Renderer
from worker.store import make_engine, session_factory
from worker.store.models import Delivery, Edition, EditionSegment, Subscriber, Tool

WEEK = str(SAMPLE_WEEK)
# A change must show well within this; the target (under a second) is
# measured in bench/, not asserted here.
CHANGE_TIMEOUT = 10.0
FOOTER = "You get this email because"
DIGEST_TEMPLATE = Path("email") / "digest.mjml.j2"
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


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def part_bytes(message: EmailMessage, subtype: str) -> bytes:
    """A body part as its bytes after the transfer encoding is undone."""
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def sent_at(message: EmailMessage) -> dt.datetime:
    """When a test message was composed: its Message-ID names the moment."""
    found = re.fullmatch(r"<test\.(\d+)\.(\d{6})\..+>", str(message["Message-ID"]).strip())
    assert found, message["Message-ID"]
    return dt.datetime.fromtimestamp(int(found[1]), dt.UTC).replace(microsecond=int(found[2]))


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


@pytest.fixture
def smtp() -> Iterator[tuple[int, Handler]]:
    handler = Handler()
    with smtp_server(handler) as controller:
        yield controller.port, handler


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A copy of templates/ to edit."""
    copy = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
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


# The preview is what goes out.


def test_preview_html_is_what_a_test_send_delivers(
    sessions: sessionmaker[Session], database_url: str, smtp: tuple[int, Handler]
) -> None:
    port, handler = smtp
    env = cli_env(database_url, MAIL_URL=f"smtp://127.0.0.1:{port}?starttls=off")
    settings = load_settings(env)
    load_sample(sessions, settings)
    for label, key in (("every category", ""), ("Developer Tools", "Developer Tools")):
        segment = ("--segment", label) if key else ()
        done = digest(env, "send", "--test", "--to", "reader@example.com", "--week", WEEK, *segment)
        assert done.returncode == 0, done.stderr
        assert f"{WEEK}: test for {label} sent to reader@example.com" in done.stdout
        sent = handler.envelopes.pop()
        captured = parse(sent.original_content)
        now = sent_at(captured)

        # The preview server at that moment serves the same HTML part, byte for byte.
        live = LivePreview(settings, SAMPLE_WEEK, clock=lambda now=now: now, spam=False)
        with serving(live, PageRenderer(settings.templates_dir)) as server:
            query = urllib.parse.urlencode({"segment": key})
            served = get(f"{server.url}message.html?{query}")
            payload = json.loads(get(f"{server.url}api/preview?{query}"))
        assert served == part_bytes(captured, "html")
        assert payload["html"].encode("utf-8") == served
        assert payload["segment"] == key and payload["error"] is None
        picks = "Your picks: Developer Tools"
        assert (picks in served.decode("utf-8")) == bool(key)

        # And the whole message is the preview's, composed for that address.
        with sessions() as session:
            source = read_week(session, SAMPLE_WEEK, settings)
        recipient = Recipient(0, "reader@example.com", None)
        test = compose_preview(
            source,
            key,
            Renderer(settings.templates_dir),
            settings,
            now=now,
            recipient=recipient,
            test=True,
        )
        assert test.raw == sent.original_content


def test_preview_of_a_sent_edition_is_each_subscribers_message(
    sessions: sessionmaker[Session], database_url: str, smtp: tuple[int, Handler]
) -> None:
    port, handler = smtp
    env = cli_env(database_url, MAIL_URL=f"smtp://127.0.0.1:{port}?starttls=off")
    settings = load_settings(env)
    load_sample(sessions, settings)
    with sessions() as session:
        before = read_week(session, SAMPLE_WEEK, settings)  # no edition yet: a fresh render
    done = digest(env, "send", "--week", WEEK)
    assert done.returncode == 0, done.stderr
    assert len(handler.envelopes) == 8

    renderer = Renderer(settings.templates_dir)
    with sessions() as session:
        source = read_week(session, SAMPLE_WEEK, settings)
        people = {s.email: s for s in session.scalars(select(Subscriber))}
    assert source.delivered and source.edition_status == "sent"
    for envelope in handler.envelopes:
        captured = parse(envelope.original_content)
        person = people[envelope.rcpt_tos[0]]
        # Its links are signed at the Date's second: the preview at that
        # moment, for that subscriber, is the same message, headers and all.
        now = parsedate_to_datetime(str(captured["Date"]))
        shown = compose_preview(
            source,
            person.categories,
            renderer,
            settings,
            now=now,
            recipient=Recipient(person.id, person.email, person.name),
        )
        assert shown.stored
        assert shown.raw == envelope.original_content, person.email
        # What the editor saw before the send: the same parts (its
        # Message-ID and boundary name no edition yet).
        seen = compose_preview(
            before,
            person.categories,
            renderer,
            settings,
            now=now,
            recipient=Recipient(person.id, person.email, person.name),
        )
        assert not seen.stored
        for subtype in ("html", "plain"):
            assert part_bytes(parse(seen.raw), subtype) == part_bytes(captured, subtype)


def test_send_test_goes_only_to_the_given_addresses(
    sqlite_template: Path, tmp_path: Path, smtp: tuple[int, Handler]
) -> None:
    # On SQLite only: the test send reads the store as the preview does
    # (compared with what goes out on both stores above) and writes nothing.
    port, handler = smtp
    shutil.copyfile(sqlite_template, tmp_path / "store.sqlite3")
    database_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    env = cli_env(database_url, MAIL_URL=f"smtp://127.0.0.1:{port}?starttls=off")
    load_sample(sessions, load_settings(env))
    args = ("send", "--test", "--to", "a@example.com", "--to", "B@Example.com", "--week", WEEK)
    for _ in range(2):
        done = digest(env, *args)
        assert done.returncode == 0, done.stderr
    assert [e.rcpt_tos for e in handler.envelopes] == [["a@example.com"], ["b@example.com"]] * 2
    messages = [parse(e.original_content) for e in handler.envelopes]
    for message in messages:
        assert str(message["Subject"]).strip().startswith("[TEST] Claude Files API vs")
        assert message["X-Digest-Test"] == "yes"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    ids = [str(m["Message-ID"]).strip() for m in messages]
    assert len(set(ids)) == 4, ids
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        assert session.scalar(select(func.count()).select_from(Edition)) == 0
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--to", "a@example.com"), "--to, --segment and --sample go with --test"),
        (("--test",), "--test needs --to ADDRESS"),
        (("--test", "--to", "not-an-address"), "--to: email: 'not-an-address' is not a valid"),
    ],
)
def test_send_test_refuses_bad_options(
    tmp_path: Path, smtp: tuple[int, Handler], args: tuple[str, ...], said: str
) -> None:
    port, handler = smtp
    env = cli_env(
        f"sqlite:///{tmp_path / 'none.sqlite3'}", MAIL_URL=f"smtp://127.0.0.1:{port}?starttls=off"
    )
    done = digest(env, "send", *args, "--sample")
    assert done.returncode == 1
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    assert handler.envelopes == [] and handler.connections == 0


# `digest preview --out` and `digest lint`.


def payload_of(index: str) -> dict[str, Any]:
    found = re.search(r'<script id="payload" type="application/json">(.*?)</script>', index, re.S)
    assert found
    data = json.loads(found[1])
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("segment", ["", "Productivity, Design"])
def test_preview_out_writes_the_static_pages(tmp_path: Path, segment: str) -> None:
    out = tmp_path / "out"
    chosen = ("--segment", segment) if segment else ()
    done = digest(cli_env(), "preview", "--sample", "--out", str(out), *chosen)
    assert done.returncode == 0, done.stderr
    assert f"{WEEK}: preview written to {out / 'index.html'}" in done.stdout
    names = {"index.html", "message.html", "message.eml", "message.txt", "message-dark.html"}
    assert {p.name for p in out.iterdir()} == names | {"lint.txt"}

    message = parse((out / "message.eml").read_bytes())
    html = (out / "message.html").read_bytes()
    assert html == part_bytes(message, "html")
    assert (out / "message.txt").read_bytes() == part_bytes(message, "plain")
    assert (out / "message-dark.html").read_bytes().decode() == dark_mode(html.decode())
    assert message["To"] == "Sample Reader <reader@example.com>"

    payload = payload_of((out / "index.html").read_text(encoding="utf-8"))
    assert payload["html"].encode("utf-8") == html
    assert payload["segment"] == ("Design|Productivity" if segment else "")
    assert payload["subject"] == message["Subject"]
    assert payload["spam"] in ("done", "absent")  # a snapshot waits for SpamAssassin
    picks = "Your picks: Design, Productivity"
    assert (picks in html.decode("utf-8")) == bool(segment)
    lint = (out / "lint.txt").read_text(encoding="utf-8").splitlines()
    assert lint == [f"{f['level']}: {f['check']}: {f['message']}" for f in payload["lint"]]
    assert any(line.startswith("info: size: HTML is") for line in lint)
    assert not any(line.startswith("error:") for line in lint), lint


def test_lint_of_the_demo_digest_has_no_errors() -> None:
    done = digest(cli_env(), "lint", "--sample")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"{WEEK} · every category" in lines
    assert f"{WEEK} · Design, Productivity" in lines
    assert not [line for line in lines if line.strip().startswith("error")], done.stdout
    assert re.search(r"^0 error\(s\), \d+ warning\(s\) in 6 segment\(s\)$", done.stdout, re.M)
    assert re.search(r"^  info +spam: SpamAssassin", done.stdout, re.M) or (
        shutil.which("spamassassin") is None
    )

    as_json = digest(cli_env(), "lint", "--sample", "--no-spam", "--json")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["week"] == WEEK
    assert document["segments"][0]["segment"] == ""
    assert len(document["segments"]) == 6
    checks = {f["check"] for s in document["segments"] for f in s["findings"]}
    assert {"size", "subject", "preview-text", "edition"} <= checks <= set(CHECKS)
    assert not [f for s in document["segments"] for f in s["findings"] if f["level"] == "error"]


# Each breakage in a templates/ copy, and the error lint must report for it.
BREAKAGES = {
    "unsubscribe": (
        '<a href="{{ unsubscribe_url }}" style="color:{{ c.muted }}">Unsubscribe</a> · ',
        "",
        "no unsubscribe link in the HTML",
    ),
    "image-alt": (
        FOOTER,
        '<img src="https://verdicts.example/logo.png" width="120"> ' + FOOTER,
        "image without alt text: https://verdicts.example/logo.png",
    ),
    "size": (
        FOOTER,
        '<span style="display:none">{{ "Lorem ipsum dolor sit amet. " * 4000 }}</span>' + FOOTER,
        "Gmail clips messages over 104,448 bytes (102 KB)",
    ),
}


@pytest.mark.parametrize("check", list(BREAKAGES))
def test_lint_reports_a_broken_template(templates: Path, check: str) -> None:
    old, new, message = BREAKAGES[check]
    edit(templates / DIGEST_TEMPLATE, old, new)
    env = cli_env(TEMPLATES_DIR=str(templates))
    done = digest(env, "lint", "--sample", "--no-spam")
    assert done.returncode == 1, done.stdout + done.stderr
    errors = re.findall(r"^  error +([\w-]+): (.*)$", done.stdout, re.M)
    # Every segment has the footer, so each of the six has this error, and only it.
    assert len(errors) == 6, done.stdout
    assert all(found == check and message in said for found, said in errors), errors
    assert re.search(r"^6 error\(s\), \d+ warning\(s\) in 6 segment\(s\)$", done.stdout, re.M)


# Live: what the watcher sees.


def test_a_template_edit_shows_without_a_reload(settings: Settings, templates: Path) -> None:
    config = replace(settings, templates_dir=templates)
    live = LivePreview(config, SAMPLE_WEEK, sample=SampleStore(config), spam=False)
    with watching(live):
        before = live.payload("")
        assert before["error"] is None and "EDITED-FOOTER" not in before["html"]
        edit(templates / DIGEST_TEMPLATE, FOOTER, "EDITED-FOOTER " + FOOTER)
        moved = live.wait_for_change(before["version"], CHANGE_TIMEOUT)
        assert moved > before["version"]
        after = wait_for(live, "", lambda p: "EDITED-FOOTER" in (p.get("html") or ""))
        assert after["version"] > before["version"]
        assert after["error"] is None and after["subject"] == before["subject"]

        # The text template is watched too.
        edit(
            templates / "email" / "digest.txt.j2",
            "{{ digest.list_name",
            "EDITED-TEXT {{ digest.list_name",
        )
        wait_for(live, "", lambda p: "EDITED-TEXT" in (p.get("text") or ""))


def test_a_broken_template_names_the_place_and_the_next_save_recovers(
    settings: Settings, templates: Path
) -> None:
    path = templates / DIGEST_TEMPLATE
    good = path.read_text(encoding="utf-8")
    lines = good.splitlines(keepends=True)
    config = replace(settings, templates_dir=templates)
    live = LivePreview(config, SAMPLE_WEEK, sample=SampleStore(config), spam=False)
    with watching(live):
        assert live.payload("")["error"] is None
        # Line 5 gets an unclosed block tag.
        path.write_text("".join([*lines[:4], "{% if %}\n", *lines[4:]]), encoding="utf-8")
        broken = wait_for(live, "", lambda p: bool(p["error"]))
        assert "digest.mjml.j2:5:" in broken["error"], broken["error"]
        assert "html" not in broken  # nothing stale posing as the current message
        path.write_text(good.replace(FOOTER, "FIXED " + FOOTER), encoding="utf-8")
        fixed = wait_for(live, "", lambda p: p["error"] is None)
        assert "FIXED " + FOOTER in fixed["html"]
        assert fixed["version"] > broken["version"]


def test_a_store_change_shows(
    sessions: sessionmaker[Session], database_url: str, settings: Settings
) -> None:
    config = replace(settings, database_url=database_url)
    load_sample(sessions, config)
    live = LivePreview(config, SAMPLE_WEEK, spam=False)
    with watching(live):
        before = live.payload("Developer Tools")
        assert FILES_API_TAGLINE in before["html"] and before["stored"] is False
        with sessions.begin() as session:
            session.execute(
                update(Tool)
                .where(Tool.slug == "claude-files-api")
                .values(tagline="Files that stay put (edited in the store)")
            )
        after = wait_for(
            live, "Developer Tools", lambda p: "Files that stay put" in (p.get("html") or "")
        )
        assert FILES_API_TAGLINE not in after["html"]
        assert "Files that stay put" in after["text"]


def test_a_sample_data_change_shows(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "sample"
    shutil.copytree(SAMPLE, folder)
    live = LivePreview(settings, SAMPLE_WEEK, sample=SampleStore(settings, folder), spam=False)
    with watching(live):
        assert FILES_API_TAGLINE in live.payload("")["html"]
        edit(folder / "content.yaml", FILES_API_TAGLINE, "Upload once (edited sample)")
        after = wait_for(live, "", lambda p: "Upload once (edited sample)" in (p.get("html") or ""))
        assert FILES_API_TAGLINE not in after["html"]


def test_an_edition_with_deliveries_shows_its_stored_render(
    sessions: sessionmaker[Session], database_url: str, settings: Settings, templates: Path
) -> None:
    config = replace(settings, database_url=database_url, templates_dir=templates)
    load_sample(sessions, config)
    build_edition(sessions, SAMPLE_WEEK, config, Renderer(templates))
    assert start_edition(sessions, SAMPLE_WEEK, config).started
    live = LivePreview(config, SAMPLE_WEEK, spam=False)
    with watching(live):
        payload, preview = live.built("")
        assert preview is not None and payload["stored"] is True
        assert payload["edition"] == "sending"
        with sessions() as session:
            stored = session.scalars(
                select(EditionSegment).where(EditionSegment.segment == "")
            ).one()
            assert (preview.parts.subject, preview.parts.html, preview.parts.text) == (
                stored.subject,
                stored.html,
                stored.text,
            )
        edit(templates / DIGEST_TEMPLATE, FOOTER, "TOO-LATE " + FOOTER)
        # The watcher sees the edit (the version moves), yet what went out stays.
        assert live.wait_for_change(payload["version"], CHANGE_TIMEOUT) > payload["version"]
        after, shown = live.built("")
        assert after["version"] > payload["version"] and after["stored"] is True
        assert shown is not None and shown.parts == preview.parts
        assert "TOO-LATE" not in after["html"]


# The server.


@pytest.fixture
def sample_server(settings: Settings) -> Iterator[str]:
    """The preview of the sample data on a free loopback port: its URL."""
    live = LivePreview(settings, SAMPLE_WEEK, sample=SampleStore(settings), spam=False)
    with serving(live, PageRenderer(settings.templates_dir)) as server:
        yield server.url


def status_with_host(url: str, host: str, path: str = "/") -> int:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_the_server_answers_only_to_its_own_name(sample_server: str) -> None:
    port = urllib.parse.urlsplit(sample_server).port
    assert sample_server == f"http://127.0.0.1:{port}/"
    for path in ("/", "/api/preview", "/message.html", "/message.eml"):
        assert status_with_host(sample_server, f"127.0.0.1:{port}", path) == 200
        assert status_with_host(sample_server, f"localhost:{port}", path) == 200
        # DNS rebinding: a page on another name that resolves to 127.0.0.1.
        assert status_with_host(sample_server, f"evil.example:{port}", path) == 400
        assert status_with_host(sample_server, "evil.example", path) == 400


def test_the_server_listens_on_127_0_0_1_only(sample_server: str) -> None:
    port = urllib.parse.urlsplit(sample_server).port
    assert port
    # Another loopback address reaches a server bound to 0.0.0.0, not this one.
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection("127.0.0.2", port, timeout=5).connect()


def test_the_server_serves_the_message_parts(sample_server: str) -> None:
    raw = get(f"{sample_server}message.eml")
    message = parse(raw)
    assert message["To"] == f"{SAMPLE_READER.name} <{SAMPLE_READER.email}>"
    html = get(f"{sample_server}message.html")
    assert html == part_bytes(message, "html")
    assert get(f"{sample_server}message.txt") == part_bytes(message, "plain")
    assert get(f"{sample_server}message-dark.html").decode() == dark_mode(html.decode())
    page = get(sample_server).decode("utf-8")
    assert payload_of(page)["html"].encode("utf-8") == html
    # A segment with nothing that week: the reason, no message.
    nothing = urllib.parse.urlencode({"segment": "Robotics"})
    payload = json.loads(get(f"{sample_server}api/preview?{nothing}"))
    assert payload["error"] == f"{WEEK}: nothing for Robotics this week"
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(f"{sample_server}message.html?{nothing}")
    assert refused.value.code == 404


def test_changes_long_poll_answers_at_once_when_behind(sample_server: str) -> None:
    current = json.loads(get(f"{sample_server}api/preview"))["version"]
    assert json.loads(get(f"{sample_server}api/changes?since=-1")) == {"version": current}


# Dark mode.


def test_dark_mode_applies_the_dark_rules_unconditionally(settings: Settings) -> None:
    with sample_sessions(settings) as sessions, sessions() as session:
        source = read_week(session, SAMPLE_WEEK, settings)
    html = compose_preview(source, "", Renderer(settings.templates_dir), settings).html
    assert "@media (prefers-color-scheme: dark)" in html
    dark = dark_mode(html)
    assert "prefers-color-scheme" not in dark
    rules = re.search(r"@media all\s*\{(.*?)\}\s*\}", dark, re.S)
    assert rules and "#161b22" in rules[1] and "#0d1117" in rules[1]
    assert re.search(r"<body data-ogsc[\s>]", dark)
    # Nothing else moves.
    assert (
        dark.replace("@media all", "@media (prefers-color-scheme: dark)").replace(
            "<body data-ogsc", "<body"
        )
        == html
    )


@contextmanager
def sample_sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """The sample data in a scratch store."""
    store = SampleStore(settings)
    try:
        yield store.load()
    finally:
        store.close()


# After the review: sample data that stops loading, a failing expression in
# a template, a busy port, a test send over an email API, a built edition
# that differs, the long poll, segments as people write them, the message
# alone, and a SpamAssassin that fails.


def save(path: Path, text: str) -> None:
    """Write ``path`` whole, as an editor saving by rename does: the watcher
    never sees it half written."""
    staged = path.parent.parent / f".{path.name}.saving"
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, path)


def test_sample_data_that_does_not_load_shows_until_a_save_loads(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="worker.preview")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where SampleStore keeps its stores
    folder = tmp_path / "sample"
    shutil.copytree(SAMPLE, folder)
    content = folder / "content.yaml"
    good = content.read_text(encoding="utf-8")
    live = LivePreview(settings, SAMPLE_WEEK, sample=SampleStore(settings, folder), spam=False)
    (stores,) = scratch.iterdir()
    with watching(live):
        assert live.payload("")["error"] is None
        save(content, "tools: [unclosed\n  - slug: : :\n")
        broken = wait_for(live, "", lambda p: bool(p["error"]))
        assert broken["error"].startswith(f"sample data: {content}: 1 problem:"), broken["error"]
        assert "line 2" in broken["error"] and "html" not in broken
        # The store is read again every STORE_POLL (from the last good
        # load): those reads leave the error, and the version, as they are.
        wait_for_store_reads(caplog, 3)
        still = live.payload("")
        assert (still["version"], still["error"]) == (broken["version"], broken["error"])
        # The failed load dropped its file; the first one is still the store.
        assert [p.name for p in stores.iterdir()] == ["sample-1.sqlite3"]

        save(content, good.replace(FILES_API_TAGLINE, "Upload once (fixed sample)"))
        fixed = wait_for(live, "", lambda p: p["error"] is None)
        assert "Upload once (fixed sample)" in fixed["html"]
        assert fixed["version"] > broken["version"]
        assert [p.name for p in stores.iterdir()] == ["sample-3.sqlite3"]
    assert list(scratch.iterdir()) == []  # closed: no scratch store left behind


def test_a_failing_template_expression_names_the_place(
    templates: Path, sqlite_template: Path, tmp_path: Path
) -> None:
    path = templates / DIGEST_TEMPLATE
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    # Line 5: a string plus a number, a TypeError raised outside Jinja2's own errors.
    path.write_text("".join([*lines[:4], "{{ digest.week + 1 }}\n", *lines[4:]]), encoding="utf-8")
    where = re.escape(f"{path}:5: TypeError(")
    store = tmp_path / "store.sqlite3"
    shutil.copyfile(sqlite_template, store)
    env = cli_env(f"sqlite:///{store}", TEMPLATES_DIR=str(templates))
    settings = load_settings(env)

    live = LivePreview(settings, SAMPLE_WEEK, sample=SampleStore(settings), spam=False)
    try:
        payload = live.payload("")
    finally:
        live.close()
    assert re.fullmatch(rf"{where}.+\)", payload["error"]), payload["error"]
    assert "html" not in payload

    engine = make_engine(f"sqlite:///{store}")
    sessions = session_factory(engine)
    load_sample(sessions, settings)
    out = tmp_path / "out"
    for args in (
        ("lint", "--sample", "--no-spam"),
        ("preview", "--sample", "--out", str(out)),
        ("build", "--week", WEEK),
    ):
        done = digest(env, *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert re.search(rf"^error: {where}", done.stderr, re.M), (args, done.stderr)
        assert "Traceback" not in done.stderr, args
    assert not out.exists()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Edition)) == 0
    engine.dispose()


def test_preview_on_a_busy_port_fails_and_leaves_no_scratch_store(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = cli_env(TMPDIR=str(scratch))  # the sample's scratch store goes here
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = digest(env, "preview", "--sample", "--port", str(port), timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    said = f"error: preview: cannot listen on 127.0.0.1:{port}: Address already in use"
    # (Its line may go on to say what it tried to bind.)
    assert any(line.startswith(said) for line in done.stderr.splitlines()), done.stderr
    assert "Traceback" not in done.stderr and "preview at" not in done.stdout
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_preview_stops_on_a_signal_and_leaves_no_scratch_store(
    tmp_path: Path, signum: signal.Signals
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = cli_env(TMPDIR=str(scratch), LOG_LEVEL="WARNING")
    process = subprocess.Popen(
        [sys.executable, "-m", "worker", "preview", "--sample", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the first line says where it serves
        url = re.search(r"preview at (http://127\.0\.0\.1:\d+/)", line)
        assert url is not None, line
        assert json.loads(get(f"{url[1]}api/preview"))["error"] is None
        assert list(scratch.iterdir())  # the sample's scratch store, while serving
        process.send_signal(signum)
        out, err = process.communicate(timeout=25)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "preview stopped" in out and "Traceback" not in err
    assert list(scratch.iterdir()) == []


POSTMARK_TOKEN = TOKEN


@pytest.fixture
def postmark() -> Iterator[FakePostmark]:
    with postmark_server() as state:
        yield state


def test_send_test_goes_out_through_postmark(
    sqlite_template: Path, tmp_path: Path, postmark: FakePostmark
) -> None:
    store = tmp_path / "store.sqlite3"
    shutil.copyfile(sqlite_template, store)
    before = store.read_bytes()
    mail_url = f"postmark://{POSTMARK_TOKEN}@127.0.0.1:{postmark.port}?scheme=http"
    env = cli_env(f"sqlite:///{store}", MAIL_URL=mail_url)
    done = digest(env, "send", "--test", "--to", "me@example.com", "--sample")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{WEEK}: test for every category sent to me@example.com" in done.stdout

    # The look-alike takes only /email/batch with the token.
    assert postmark.tokens == [POSTMARK_TOKEN]
    ((message,),) = postmark.batches
    assert message["To"] == "me@example.com"
    assert message["Subject"].startswith("[TEST] Claude Files API vs Claude Haiku Open Weights")
    headers = {h["Name"]: h["Value"] for h in message["Headers"]}
    assert headers["X-Digest-Test"] == "yes"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html, text = message["HtmlBody"], message["TextBody"]
    assert FILES_API_TAGLINE in html and FOOTER in html and "https://verdicts.example/u/" in html
    assert "Claude Haiku Open Weights" in text
    assert "%%" not in html + text  # every per-recipient placeholder filled in
    # The sample went to a scratch store: the configured one is untouched.
    assert store.read_bytes() == before


def edition_lint(payload: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["level"], f["message"]) for f in payload["lint"] if f["check"] == "edition"]


DIFFERS = (
    "the built edition (ready) differs from this preview, and the schedule sends the built "
    "one: run `digest build` to take these changes"
)


def test_a_built_edition_that_differs_from_the_preview_is_a_warning(
    sessions: sessionmaker[Session], database_url: str, templates: Path
) -> None:
    env = cli_env(database_url, TEMPLATES_DIR=str(templates))
    settings = load_settings(env)
    load_sample(sessions, settings)
    built = digest(env, "build", "--week", WEEK)
    assert built.returncode == 0, built.stdout + built.stderr
    live = LivePreview(settings, SAMPLE_WEEK, spam=False)
    with watching(live):
        for key in ("", "Developer Tools"):
            same = live.payload(key)
            assert (same["edition"], same["stored"], same["error"]) == ("ready", False, None)
            assert edition_lint(same) == [("info", "the built edition (ready) is this message")]
        edit(templates / DIGEST_TEMPLATE, FOOTER, "AFTER-BUILD " + FOOTER)
        changed = wait_for(live, "", lambda p: "AFTER-BUILD" in (p.get("html") or ""))
        assert edition_lint(changed) == [("warning", DIFFERS)]
        assert changed["stored"] is False  # the preview shows the edit, not the build

    done = digest(env, "lint", "--week", WEEK, "--no-spam")
    assert done.returncode == 0, done.stdout + done.stderr  # a warning, not an error
    warned = re.findall(r"^  warning +edition: (.*)$", done.stdout, re.M)
    assert warned == [DIFFERS] * 6, done.stdout
    with sessions() as session:
        assert session.scalars(select(Edition)).one().status == "ready"  # lint built nothing


def test_the_long_poll_waits_while_nothing_changes(
    settings: Settings, templates: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="worker.preview")
    config = replace(settings, templates_dir=templates)
    live = LivePreview(config, SAMPLE_WEEK, sample=SampleStore(config), spam=False)
    with serving(live, PageRenderer(templates)) as server:
        version = live.version
        # The watcher reads the store again and again: the same week read
        # again is no change.
        wait_for_store_reads(caplog, 3)
        assert live.wait_for_change(version, 0) == version
        assert live.payload("")["version"] == version

        # A page waiting on /api/changes, and a waiter here, both learn of an edit.
        seen: dict[str, int] = {}
        changes = f"{server.url}api/changes?since={version}"

        def page() -> None:
            seen["page"] = json.loads(get(changes))["version"]

        def here() -> None:
            seen["here"] = live.wait_for_change(version, CHANGE_TIMEOUT)

        waiters = [threading.Thread(target=page), threading.Thread(target=here)]
        for waiter in waiters:
            waiter.start()
        edit(templates / DIGEST_TEMPLATE, FOOTER, "WAKE-UP " + FOOTER)
        for waiter in waiters:
            waiter.join(CHANGE_TIMEOUT + 5)
        assert seen.keys() == {"page", "here"}, seen
        assert seen["page"] > version and seen["here"] > version


def test_a_segment_is_read_as_a_person_writes_it(sample_server: str) -> None:
    written = json.loads(get(f"{sample_server}api/preview?segment=Productivity,%20Design"))
    key = json.loads(get(f"{sample_server}api/preview?segment=Design%7CProductivity"))
    assert written["error"] is None
    assert written["segment"] == key["segment"] == "Design|Productivity"
    assert written["segment_label"] == "Design, Productivity"
    assert written["html"] == key["html"] and "Your picks: Design, Productivity" in written["html"]
    assert get(f"{sample_server}message.html?segment=Productivity,%20Design") == get(
        f"{sample_server}message.html?segment=Design%7CProductivity"
    )
    page = get(f"{sample_server}?segment=%20Productivity%20,Design,,").decode("utf-8")
    assert payload_of(page)["segment"] == "Design|Productivity"
    # Categories match whatever their case: the subscribers' spelling wins.
    lower = json.loads(get(f"{sample_server}api/preview?segment=productivity,%20design"))
    assert lower["segment"] == "Design|Productivity" and lower["html"] == key["html"]


def headers_of(url: str) -> http.client.HTTPMessage:
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        return response.headers


def test_the_message_alone_is_sandboxed(sample_server: str) -> None:
    for path in ("message.html", "message-dark.html", "message.txt", "message.eml"):
        headers = headers_of(f"{sample_server}{path}")
        assert headers["Content-Security-Policy"] == "sandbox allow-popups", path
        assert headers["Cache-Control"] == "no-store", path
    # The page runs its own script: it is not sandboxed.
    assert "sandbox" not in (headers_of(sample_server)["Content-Security-Policy"] or "")


FAILING_SPAMASSASSIN = """#!/usr/bin/perl
print STDERR "spamassassin: config: rules failed to compile\\n";
exit 2;
"""


def test_lint_goes_on_when_spamassassin_fails(tmp_path: Path) -> None:
    programs = tmp_path / "bin"
    programs.mkdir()
    fake = programs / "spamassassin"
    fake.write_text(FAILING_SPAMASSASSIN, encoding="utf-8")
    fake.chmod(0o755)
    env = cli_env(PATH=f"{programs}{os.pathsep}{os.environ['PATH']}")
    done = digest(env, "lint", "--sample")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    warned = re.findall(r"^  warning +spam: (.*)$", done.stdout, re.M)
    assert len(warned) == 6, done.stdout  # one per segment
    for said in warned:
        assert said.startswith("SpamAssassin failed"), said
        assert "(exit 2): spamassassin: config: rules failed to compile" in said, said
    assert not re.search(r"^  info +spam:", done.stdout, re.M)  # no score was made up
    assert re.search(r"^0 error\(s\), \d+ warning\(s\) in 6 segment\(s\)$", done.stdout, re.M)


def test_the_edition_lint_says_what_will_go_out(settings: Settings) -> None:
    parts = SegmentParts("Subject", "<p>html</p>", "text")
    other = SegmentParts("Subject", "<p>built before an edit</p>", "text")
    # The digest is any value: the edition's lint never reads it.
    week: dict[str, Any] = dict(week=SAMPLE_WEEK, digest=None, segments=("",), edition_id=1)

    def lint(
        status: str | None, rendered: dict[str, SegmentParts], **extra: Any
    ) -> list[tuple[Level, str]]:
        source = WeekSource(**week, edition_status=status, rendered=rendered, **extra)
        return [(f.level, f.message) for f in edition_findings(source, "", parts, settings)]

    ((level, said),) = lint(None, {})
    assert level == Level.INFO and said.startswith("not built yet")
    assert lint("ready", {"": parts}) == [(Level.INFO, "the built edition (ready) is this message")]
    ((level, said),) = lint("ready", {"": other})
    assert level == Level.WARNING and "run `digest build` to take these changes" in said
    ((level, said),) = lint("skipped", {})
    assert level == Level.WARNING and "recorded as skipped" in said and "digest build" in said
    ((level, said),) = lint("sent", {"": other}, delivered=True)
    assert level == Level.INFO and "no longer apply" in said
    approving = replace(settings, digest_require_approval=True)
    source = WeekSource(**week, edition_status="ready", rendered={"": other})
    ((level, said),) = [
        (f.level, f.message) for f in edition_findings(source, "", parts, approving)
    ]
    assert level == Level.WARNING and "`digest approve` again" in said
