"""The weekly job through the `digest` command, delivered by a real SMTP
server on loopback, and what arrived checked part by part."""

from __future__ import annotations

import email
import email.policy
import os
import re
from email.message import EmailMessage
from pathlib import Path

from tests.support.commands import digest
from tests.support.smtpserver import Handler
from worker.config import PROJECT_ROOT, load_settings
from worker.domain.tokens import Purpose, read_token

SAMPLE = PROJECT_ROOT / "sample"


def test_send_a_week_over_smtp_and_read_what_arrived(
    database_url: str, smtp_port: int, handler: Handler, tmp_path: Path
) -> None:
    port, capture = smtp_port, handler
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MAIL_URL": f"smtp://127.0.0.1:{port}?starttls=off",
        "SITE_URL": "https://verdicts.example",
        "SECRET_KEY": "end-to-end-secret",
        "MAIL_FROM": "Weekly AI Tool Verdicts <digest@verdicts.example>",
        "POSTAL_ADDRESS": "1 Test Street, Testville",
        "DIGEST_TIMEZONE": "Europe/Berlin",
    }
    for args in (
        ("db", "upgrade"),
        ("import", str(SAMPLE / "content.yaml")),
        ("subscribers", "import", str(SAMPLE / "subscribers.csv")),
        ("send", "--week", "2026-W48"),
    ):
        done = digest(env, *args)
        assert done.returncode == 0, done.stderr
    assert "8 sent" in done.stdout

    by_rcpt = {e.rcpt_tos[0]: e for e in capture.envelopes}
    assert len(capture.envelopes) == len(by_rcpt) == 8
    envelope = by_rcpt["ada@example.com"]
    assert envelope.mail_from == "digest@verdicts.example"
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)

    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["From"] == "Weekly AI Tool Verdicts <digest@verdicts.example>"
    assert "Claude Files API" in message["Subject"]
    assert message["Date"] and message["Message-ID"].endswith("@verdicts.example>")
    assert message["List-Id"] == "Weekly AI Tool Verdicts <weekly.verdicts.example>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Feedback-ID"]
    https_url, mailto = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    assert https_url.startswith("https://verdicts.example/u/")
    assert mailto.startswith("mailto:unsubscribe@verdicts.example?subject=")

    settings = load_settings({}, secret_key="end-to-end-secret")
    token = https_url.rsplit("/", 1)[1]
    subscriber_id, list_id = read_token(settings, Purpose.UNSUBSCRIBE, token)
    assert list_id == "weekly"

    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for part in (text, html):
        assert "Claude Files API" in part and "Claude Haiku Open Weights" in part
        assert "100%" in part and "50%" in part
        assert "Paid" in part and "Free" in part
        assert "—" in part  # no community votes yet
        assert https_url in part  # the footer's unsubscribe link is the header's
        assert "1 Test Street, Testville" in part
        assert "%%" not in part  # no placeholder left unfilled
    preferences = re.search(r"https://verdicts\.example/preferences/([\w.-]+)", html)
    assert preferences is not None
    assert read_token(settings, Purpose.PREFERENCES, preferences[1])[0] == subscriber_id
    vote = re.search(r"https://verdicts\.example/vote/([\w.-]+)/claude-files-api/ship", html)
    assert vote is not None
    assert read_token(settings, Purpose.VOTE, vote[1])[0] == subscriber_id

    # A second send of the same week sends nothing.
    again = digest(env, "send", "--week", "2026-W48")
    assert again.returncode == 0, again.stderr
    assert len(capture.envelopes) == 8


def test_errors_are_one_line_naming_the_place(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    bad = tmp_path / "bad.yaml"
    bad.write_text("tools:\n  - name: No slug\n")
    done = digest(env, "import", str(bad))
    assert done.returncode == 1
    assert f"{bad}:2: tools[0].slug: is required" in done.stderr
    assert "Traceback" not in done.stderr
    week = digest(env, "build", "--week", "2026-W54")
    assert week.returncode == 1 and "not an ISO week" in week.stderr
