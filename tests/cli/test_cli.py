"""The `digest` command as a user runs it: the demo, ingest, subscriber import."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import tomllib
from pathlib import Path

import click
import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support.commands import digest
from tests.support.feedserver import serve_feeds
from tests.support.sample import W48, build_sample_week
from worker.cli import COMMANDS, main
from worker.config import PROJECT_ROOT, Settings, load_settings
from worker.deliver.editions import start_edition
from worker.domain.tokens import BadToken, Purpose, read_subscriber_token


def test_demo_sends_the_sample_week_to_a_file_outbox(tmp_path: Path) -> None:
    done = digest(dict(os.environ), "demo", "--dir", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr
    outbox = tmp_path / "demo" / "outbox"
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 8
    assert f"Outbox:  {outbox} (8 .eml files)" in done.stdout
    assert "ok, 5 new launches" in done.stdout
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "100%" in html and "50%" in html and "Claude Haiku Open Weights" in html
    preview = (tmp_path / "demo" / "preview.html").read_bytes().decode("utf-8")
    assert "100%" in preview and "Claude Haiku Open Weights" in preview
    assert len(preview.encode()) < 95_000


def test_the_demos_preview_carries_only_the_placeholder_readers_links(tmp_path: Path) -> None:
    """The preview files are made to be shown around: their unsubscribe,
    preferences and vote links name subscriber 0, who is nobody."""
    demo = tmp_path / "demo"
    env = {**os.environ, "SECRET_KEY": "demo-preview-secret"}
    done = digest(env, "demo", "--dir", str(demo))
    assert done.returncode == 0, done.stderr
    settings = load_settings(env, database_url=f"sqlite:///{demo / 'digest.sqlite3'}")
    for name in ("preview.html", "preview.txt"):
        shown = (demo / name).read_text(encoding="utf-8")
        assert "Claude Haiku Open Weights" in shown, name  # the message, all the same
        named = signed_links(settings, shown)
        assert {purpose for purpose, _ in named} >= {Purpose.UNSUBSCRIBE, Purpose.VOTE}, name
        assert {subscriber for _, subscriber in named} == {0}, name


def signed_links(settings: Settings, text: str) -> set[tuple[Purpose, int]]:
    """Each genuine subscriber token in ``text``: its purpose and whom it names."""
    found = set()
    for candidate in set(re.findall(r"[\w-]+\.[\w-]+\.[\w-]+", text)):
        for purpose in Purpose:
            try:
                subscriber, _, _ = read_subscriber_token(settings, purpose, candidate)
            except BadToken:
                continue
            found.add((purpose, subscriber))
    return found


def test_version_is_the_projects() -> None:
    done = digest(dict(os.environ), "--version")
    assert done.returncode == 0, done.stderr
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as pyproject:
        version = tomllib.load(pyproject)["project"]["version"]
    assert done.stdout == f"digest {version}\n"
    assert done.stderr == ""


def test_ingest_command_reports_each_feed(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "COLUMNS": "80"}
    with serve_feeds(PROJECT_ROOT / "sample" / "feeds") as server:
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(
            f'[[feed]]\nurl = "{server.url("/launches.rss.xml")}"\n'
            f'[[feed]]\nurl = "{server.url("/nope.xml")}"\n'
        )
        allowed = {**env, "FEED_ALLOW_PRIVATE": server.address}  # the feed server, on loopback
        done = digest(allowed, "ingest", "--feeds", str(feeds))
    assert done.returncode == 2  # one feed failed; the other was stored
    # Off a terminal: a line per feed, its URL whole.
    assert done.stdout.splitlines() == [
        f"  {server.url('/launches.rss.xml')}: result ok; new 5; duplicates 0; skipped 0; "
        "left out 0",
        f"  {server.url('/nope.xml')}: result error; new 0; duplicates 0; skipped 0; left out 0; "
        f"error {server.url('/nope.xml')}: HTTP 404 Not Found",
    ], done.stdout


def test_ingest_without_a_feeds_file_says_so(database_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FEEDS_FILE"}
    env["DATABASE_URL"] = database_url
    done = digest(env, "ingest", cwd=tmp_path)  # no feeds.toml there: none configured
    assert done.returncode == 0, done.stderr
    assert "no feeds configured" in done.stdout
    named = digest(env, "ingest", "--feeds", "absent.toml", cwd=tmp_path)
    assert named.returncode == 1
    assert "--feeds: absent.toml does not exist" in named.stderr


def test_subscribers_import_reports_bad_rows_and_keeps_good_ones(
    database_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    people = tmp_path / "people.csv"
    people.write_text("email,name\nok@example.com,Ok\nnot-an-address,Bad\n")
    done = digest(env, "subscribers", "import", str(people))
    assert done.returncode == 1
    assert "1 added" in done.stdout
    assert f"{people}:3: email: 'not-an-address' is not a valid address" in done.stderr


def test_an_unreachable_database_is_one_line_without_the_password() -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://bob:hunter2-secret@127.0.0.1:9/none"}
    done = digest(env, "db", "upgrade")
    assert done.returncode == 1
    assert "the database is unreachable or refused" in done.stderr
    assert "hunter2-secret" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_worker_status_and_control_commands(database_url: str, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MAIL_URL": f"file://{outbox}",
        "COLUMNS": "80",
    }
    sample = PROJECT_ROOT / "sample"
    for args in (
        ("db", "upgrade"),
        ("import", str(sample / "content.yaml")),
        ("subscribers", "import", str(sample / "subscribers.csv")),
        ("build", "--week", "2026-W48"),
    ):
        assert digest(env, *args).returncode == 0
    refused = digest(env, "pause", "--week", "2026-W48")
    assert refused.returncode == 1 and "only a sending edition can be paused" in refused.stderr
    worker = digest(env, "worker", "--once", "--id", "w1")
    assert (worker.returncode, worker.stdout) == (  # not started yet: nothing to claim
        0,
        "worker w1: 0 sent, 0 deferred, 0 failed, 0 suppressed in 0 batches\n",
    )
    sent = digest(env, "send", "--week", "2026-W48")
    assert (sent.returncode, sent.stdout) == (
        0,
        "2026-W48: edition sent; this run: 8 sent, 0 deferred, 0 failed, 0 suppressed\n",
    )
    table = digest(env, "status", "--week", "2026-W48")
    assert table.returncode == 0
    assert table.stdout.startswith(
        "  2026-W48: status sent; queued 0; sent 8; deferred 0; failed 0; suppressed 0;"
    ), table.stdout
    status = digest(env, "status", "--week", "2026-W48", "--json")
    assert status.returncode == 0
    figures = json.loads(status.stdout)
    assert (figures["week"], figures["status"], figures["sent"], figures["queued"]) == (
        "2026-W48",
        "sent",
        8,
        0,
    )
    assert len(list(outbox.glob("*.eml"))) == 8
    cancel = digest(env, "cancel", "--week", "2026-W48")
    assert cancel.returncode == 1 and "nothing to cancel" in cancel.stderr


def test_an_error_is_followed_by_its_hint(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "DELIVERY_BATCH_SIZE": "lots"}
    done = digest(env, "status")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: DELIVERY_BATCH_SIZE: not a number: 'lots'",
        "hint: Deliveries a worker claims at once (a whole number; unset: 100); "
        "see docs/configuration.md",
    ]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_found_where_commands_says(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert isinstance(command, click.Command) and command.name == name
    assert command.help


def test_pause_and_resume_a_sending_edition(
    database_url: str, sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    build_sample_week(sessions, settings)
    start_edition(sessions, W48, settings)
    env = {**os.environ, "DATABASE_URL": database_url, "MAIL_URL": f"file://{tmp_path}"}
    paused = digest(env, "pause", "--week", "2026-W48")
    assert (paused.returncode, paused.stdout) == (0, "2026-W48: paused\n")
    idle = digest(env, "worker", "--once", "--id", "w1")
    assert "w1: 0 sent" in idle.stdout  # a paused edition is not claimed
    resumed = digest(env, "resume", "--week", "2026-W48")
    assert (resumed.returncode, resumed.stdout) == (0, "2026-W48: sending\n")
    done = digest(env, "worker", "--once", "--id", "w1")
    assert "w1: 8 sent" in done.stdout
