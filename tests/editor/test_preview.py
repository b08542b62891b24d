"""The preview (worker/editor/preview.py) against real parts: what it
composes is what goes out, byte for byte, compared with what `digest send
--test` and a real `digest send` put on the wire of a real SMTP server
(aiosmtpd) or an email API look-alike; the lint of an edition; dark mode;
and how the preview stands to a built edition.

Their send times are read back from the captured messages (a test's
Message-ID names its microsecond, a delivery's Date its second, which is
all its signed links hold), so the preview is composed at the same moment.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.commands import digest
from tests.support.mailparts import parse_message, part_bytes
from tests.support.postmarkserver import TOKEN, FakePostmark, postmark_server
from tests.support.preview import (
    DIGEST_TEMPLATE,
    FILES_API_TAGLINE,
    FOOTER,
    SAMPLE_SUBJECT,
    WEEK,
    cli_env,
    edit,
    get,
    wait_for,
    watching,
)
from tests.support.smtpserver import Handler
from worker.compose.message import Recipient, SegmentParts
from worker.config import Settings, load_settings
from worker.editor.lint.rules import CHECKS, Level
from worker.editor.live import LivePreview
from worker.editor.page import PageRenderer
from worker.editor.preview import (
    WeekSource,
    compose_preview,
    dark_mode,
    edition_findings,
    read_week,
)
from worker.editor.sample import SAMPLE_WEEK, SampleStore, load_sample
from worker.editor.server import serving
from worker.render.renderer import Renderer
from worker.store import make_engine, session_factory
from worker.store.models import Delivery, Edition, Subscriber


class SmtpSample(NamedTuple):
    """A `digest` command's environment and settings, mailing to a real SMTP
    server, and that server's handler."""

    env: dict[str, str]
    settings: Settings
    handler: Handler


@pytest.fixture
def smtp_sample(
    sessions: sessionmaker[Session], database_url: str, smtp_port: int, handler: Handler
) -> SmtpSample:
    """The sample data in the test's store, and `digest` mailing to a real SMTP server."""
    port = smtp_port
    env = cli_env(database_url, MAIL_URL=f"smtp://127.0.0.1:{port}?starttls=off")
    settings = load_settings(env)
    load_sample(sessions, settings)
    return SmtpSample(env, settings, handler)


def sent_at(message: EmailMessage) -> dt.datetime:
    """When a test message was composed: its Message-ID names the moment."""
    found = re.fullmatch(r"<test\.(\d+)\.(\d{6})\..+>", str(message["Message-ID"]))
    assert found, message["Message-ID"]
    return dt.datetime.fromtimestamp(int(found[1]), dt.UTC).replace(microsecond=int(found[2]))


def test_preview_html_is_what_a_test_send_delivers(
    sessions: sessionmaker[Session], smtp_sample: SmtpSample
) -> None:
    env, settings, handler = smtp_sample
    for label, key in (("every category", ""), ("Developer Tools", "Developer Tools")):
        segment = ("--segment", label) if key else ()
        done = digest(env, "send", "--test", "--to", "reader@example.com", "--week", WEEK, *segment)
        assert done.returncode == 0, done.stderr
        assert f"{WEEK}: test for {label} sent to reader@example.com" in done.stdout
        sent = handler.envelopes.pop()
        captured = parse_message(sent.original_content)
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
    sessions: sessionmaker[Session], smtp_sample: SmtpSample
) -> None:
    env, settings, handler = smtp_sample
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
        captured = parse_message(envelope.original_content)
        person = people[envelope.rcpt_tos[0]]
        # Its links are signed at the Date's second: the preview at that
        # moment, for that subscriber, is the same message, headers and all.
        now = parsedate_to_datetime(str(captured["Date"]))
        recipient = Recipient(person.id, person.email, person.name)
        shown, seen = (
            compose_preview(
                week, person.categories, renderer, settings, now=now, recipient=recipient
            )
            for week in (source, before)
        )
        assert shown.stored
        assert shown.raw == envelope.original_content, person.email
        # What the editor saw before the send: the same parts (its
        # Message-ID and boundary name no edition yet).
        assert not seen.stored
        for subtype in ("html", "plain"):
            assert part_bytes(parse_message(seen.raw), subtype) == part_bytes(captured, subtype)


def test_send_test_goes_only_to_the_given_addresses(
    sqlite_template: Path, tmp_path: Path, smtp_port: int, handler: Handler
) -> None:
    # On SQLite only: the test send reads the store as the preview does
    # (compared with what goes out on both stores above) and writes nothing.
    port = smtp_port
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
    messages = [parse_message(e.original_content) for e in handler.envelopes]
    for message in messages:
        assert str(message["Subject"]) == f"[TEST] {SAMPLE_SUBJECT}"
        assert message["X-Digest-Test"] == "yes"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    ids = [str(m["Message-ID"]) for m in messages]
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
    tmp_path: Path, smtp_port: int, handler: Handler, args: tuple[str, ...], said: str
) -> None:
    port = smtp_port
    env = cli_env(
        f"sqlite:///{tmp_path / 'none.sqlite3'}", MAIL_URL=f"smtp://127.0.0.1:{port}?starttls=off"
    )
    done = digest(env, "send", *args, "--sample")
    assert done.returncode == 1
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    assert handler.envelopes == [] and handler.connections == 0


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
    assert message["Subject"] == f"[TEST] {SAMPLE_SUBJECT}"
    headers = {h["Name"]: h["Value"] for h in message["Headers"]}
    assert headers["X-Digest-Test"] == "yes"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html, text = message["HtmlBody"], message["TextBody"]
    assert FILES_API_TAGLINE in html and FOOTER in html and "https://verdicts.example/u/" in html
    assert "Claude Haiku Open Weights" in text
    assert "%%" not in html + text  # every per-recipient placeholder filled in
    # The sample went to a scratch store: the configured one is untouched.
    assert store.read_bytes() == before


def test_lint_of_the_demo_digest_has_no_errors() -> None:
    done = digest(cli_env(), "lint", "--sample")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"{WEEK} · every category" in lines
    assert f"{WEEK} · Design, Productivity" in lines
    assert not [line for line in lines if line.strip().startswith("error")], done.stdout
    assert re.search(r"^0 errors, \d+ warnings? in 6 segments$", done.stdout, re.M)
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


def test_lint_of_an_edition_file_being_written(tmp_path: Path) -> None:
    path = tmp_path / "2026-W48.md"
    path.write_text(
        "---\n"
        'subject: "Files API or open weights?"\n'
        "order: [loomwright-agents-vs-parcelbot-orchestrator, launch:no-such-launch]\n"
        "---\n"
        "A note. More [here](https://verdicts.example/method).\n",
        encoding="utf-8",
    )
    # The week comes from the file's name; the sample is the week's content.
    done = digest(cli_env(), "lint", "--sample", "--no-spam", "--edition", str(path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"  error   edition-file: {path}:3: launch:no-such-launch is not in week 2026-W48's "
        "edition (`digest edition import` refuses the file until it is fixed)"
    ) in done.stdout.splitlines()
    assert f"  warning intro: {path}:5: the link text “here” says nothing" in done.stdout
    assert "  info    subject: the subject is 26 characters: “Files API or open weights?”" in (
        done.stdout.splitlines()
    )

    path.write_text("---\nsend_at: soon\n---\n<b>hi</b>\n", encoding="utf-8")
    bad = digest(cli_env(), "lint", "--sample", "--no-spam", "--edition", str(path))
    assert bad.returncode == 1 and bad.stdout == ""
    assert f"{path}:2: send_at: 'soon' is not a time: write YYYY-MM-DD HH:MM" in bad.stderr
    assert f"{path}:4: intro: HTML is not accepted (<b>hi</b>)" in bad.stderr


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
    assert re.search(r"^6 errors, \d+ warnings? in 6 segments$", done.stdout, re.M)


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
    assert re.search(r"^0 errors, \d+ warnings? in 6 segments$", done.stdout, re.M)


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


@contextmanager
def sample_sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """The sample data in a scratch store."""
    store = SampleStore(settings)
    try:
        yield store.load()
    finally:
        store.close()


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
