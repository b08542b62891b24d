"""The weekly job through the `digest` command, delivered by a real SMTP
server on loopback, and what arrived checked part by part."""

from __future__ import annotations

import email
import email.policy
import os
import re
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from tests.support.commands import digest
from tests.support.editor import Editor
from tests.support.mailparts import parse_message, part_bytes
from tests.support.preview import SAMPLE_SUBJECT
from tests.support.smtpserver import Handler
from worker.config import PROJECT_ROOT, Settings, load_settings
from worker.domain.tokens import Purpose, read_token
from worker.editor.sample import load_sample
from worker.store.models import Tool

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


def test_an_editor_shapes_the_demo_week_and_the_send_carries_it(
    sessions: sessionmaker[Session], settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """The issue's done-when. From the demo's state (its content, feeds and
    subscribers, loaded as `digest demo` loads them, before its send), an
    editor writes an intro, a subject, an order and exclusions for the demo
    week with `digest edition edit` ($EDITOR a script), sees them in `digest
    preview`, and the send carries them in the HTML, the text part, the
    Subject header and the archive."""
    load_sample(sessions, settings)
    with sessions() as session:
        ids = dict(session.execute(select(Tool.name, Tool.id)).all())
    subject = "Agents or notes? The panel splits"
    edition_file = (
        "---\n"
        f'subject: "{subject}"\n'
        "order:\n"
        "  - loomwright-agents-vs-parcelbot-orchestrator\n"
        f"  - launch:{ids['Testwhisper']}\n"
        f"exclude: [comparison:prismatic-canvas-vs-sketchloom, launch:{ids['Slidesmith']}]\n"
        "---\n"
        "This week the panel **splits** on agents; read [how we judge]"
        "(https://verdicts.example/method).\n"
    )
    editor = Editor(tmp_path / "editor", edition_file)
    outbox = tmp_path / "outbox"
    env = {
        **{k: v for k, v in os.environ.items() if k != "VISUAL"},
        "DATABASE_URL": database_url,
        "MAIL_URL": f"file://{outbox}",
        "SITE_URL": settings.site_url,
        "SECRET_KEY": "test-secret-key",
        "DIGEST_TIMEZONE": settings.digest_timezone,
        "EDITOR": str(editor.command),
    }

    edited = digest(env, "edition", "edit", "--week", "2026-W48")
    assert edited.returncode == 0, edited.stderr
    assert "2026-W48: edition file saved" in edited.stdout
    # The demo stored the sample's edition file: the editor opens it as stored.
    assert f'subject: "{SAMPLE_SUBJECT}"' in editor.seen()

    preview = digest(env, "preview", "--week", "2026-W48", "--out", str(tmp_path / "preview"))
    assert preview.returncode == 0, preview.stderr
    previewed = parse_message((tmp_path / "preview" / "message.eml").read_bytes())
    assert previewed["Subject"] == subject
    assert_shaped((tmp_path / "preview" / "message.html").read_text(encoding="utf-8"), html=True)

    sent = digest(env, "send", "--week", "2026-W48")
    assert sent.returncode == 0, sent.stderr
    assert "8 sent" in sent.stdout
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 8
    for path in files:
        message = parse_message(path.read_bytes())
        assert message["Subject"] == subject
    assert_shaped(part_bytes(message, "html").decode("utf-8"), html=True)
    assert_shaped(part_bytes(message, "plain").decode("utf-8"), html=False)

    client = create_app(settings, sessions=sessions).test_client()
    index = client.get("/archive").get_data(as_text=True)
    assert subject in index
    assert_shaped(client.get("/archive/2026-W48").get_data(as_text=True), html=True)
    assert_shaped(client.get("/archive/2026-W48.txt").get_data(as_text=True), html=False)


def assert_shaped(part: str, *, html: bool) -> None:
    """``part`` (HTML or text) carries the editor's intro, order and exclusions."""
    # The intro's link, counted as the edition's first intro link (CLICK_COUNTS).
    counted = r"https://verdicts\.example/r/2026-W48\.i\.1\.[\w-]{16}\?to=https://verdicts\.example/method"
    if html:
        assert "This week the panel <strong>splits</strong> on agents" in part
        assert re.search(f'<a href="{counted}" rel="noopener noreferrer">', part)
        picks = part.index("EDITOR&#39;S PICKS")
    else:
        assert "This week the panel splits on agents; read how we judge [1]." in part
        assert re.search(rf"\[1\] {counted}\s", part)
        picks = part.index("EDITOR'S PICKS")
    first, seed = (
        part.index("Loomwright Agents vs Parcelbot Orchestrator"),
        part.index("Claude Files API vs Claude Haiku Open Weights"),
    )
    assert part.index("This week the panel") < first < seed < picks < part.index("Testwhisper")
    assert part.index("Testwhisper") < part.index("DEVELOPER TOOLS", picks)
    for excluded in ("Prismatic Canvas vs Sketchloom", "Slidesmith"):
        assert excluded not in part
