"""Test sends: the week's message for a segment, marked as a test, to each
address given; nothing recorded."""

from __future__ import annotations

import dataclasses
import email
import email.policy

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.smtpserver import Handler
from worker.config import Settings
from worker.editor.preview import compose_preview
from worker.editor.proofs import send_tests
from worker.editor.sample import SAMPLE_WEEK, load_sample
from worker.editor.source import week_source
from worker.mail.base import Outcome, OutgoingMessage
from worker.render.renderer import Renderer
from worker.store.models import Delivery, Edition


def test_each_address_gets_the_segments_message_marked_as_a_test(
    settings: Settings, handler: Handler, smtp_port: int
) -> None:
    settings = dataclasses.replace(settings, mail_url=f"smtp://127.0.0.1:{smtp_port}?starttls=off")
    addresses = ["a@example.com", "b@example.com"]
    results = send_tests(settings, SAMPLE_WEEK, "Developer Tools", addresses, sample=True)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 2
    with week_source(settings, SAMPLE_WEEK, sample=True) as source:
        renderer = Renderer(settings.templates_dir)
        subject = compose_preview(source, "Developer Tools", renderer, settings).subject
    assert len(f"Subject: [TEST] {subject}") > 78  # folded, as the sample's subjects are
    assert [e.rcpt_tos for e in handler.envelopes] == [[a] for a in addresses]
    ids = set()
    for envelope in handler.envelopes:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert message["Subject"] == f"[TEST] {subject}"  # exactly: no space before it
        assert message["X-Digest-Test"] == "yes"
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "Your picks: Developer Tools" in html
        ids.add(message["Message-ID"])
    assert len(ids) == 2


def test_a_test_send_from_the_store_records_nothing(
    sessions: sessionmaker[Session],
    database_url: str,
    settings: Settings,
    outbox: list[OutgoingMessage],
) -> None:
    settings = dataclasses.replace(settings, database_url=database_url)
    load_sample(sessions, settings)
    results = send_tests(settings, SAMPLE_WEEK, "", ["reader@example.com"], sample=False)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED]
    assert [m.recipient for m in outbox] == ["reader@example.com"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        assert session.scalar(select(func.count()).select_from(Edition)) == 0
