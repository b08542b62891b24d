"""A send signed with RSA and Ed25519, through the worker into a real SMTP
server: every message verifies as received, and one substituted byte
changed breaks both signatures; a key that cannot be read stops the send
before anything goes out."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support.dkimkeys import BROKEN, VERIFIED, DKIMKeys, dkimpy_verdicts, with_byte_changed
from tests.support.sample import W48, build_sample_week
from tests.support.smtpserver import Handler
from worker.config import Settings
from worker.deliver.editions import edition_counts
from worker.deliver.runner import send_edition
from worker.errors import ConfigError
from worker.mail import backend_from_url


def test_every_message_of_a_signed_send_verifies(
    sessions: sessionmaker[Session],
    settings: Settings,
    handler: Handler,
    smtp_port: int,
    dkim_keys: DKIMKeys,
) -> None:
    signing = dkim_keys.signing(settings)
    built = build_sample_week(sessions, signing)
    assert len(built.segments) > 1  # several templates, each with its own body hash
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off")
    report, status = send_edition(sessions, W48, signing, backend)
    assert (report.sent, status) == (8, "sent")

    received = [envelope.original_content for envelope in handler.envelopes]
    assert len(received) == 8
    for data in received:
        assert dkimpy_verdicts(data, dkim_keys) == VERIFIED
    # Each reader's links differ: the body hash was not one per segment.
    tokens = {re.search(rb"/vote/([\w.-]{12})", data)[1] for data in received}  # type: ignore[index]
    assert len(tokens) == 8

    changed = with_byte_changed(received[0], received[0].index(b"/vote/") + 10)
    assert dkimpy_verdicts(changed, dkim_keys) == BROKEN


def test_a_key_that_cannot_be_read_stops_the_send_before_any_message(
    sessions: sessionmaker[Session],
    settings: Settings,
    handler: Handler,
    smtp_port: int,
    tmp_path: Path,
) -> None:
    unreadable = dataclasses.replace(settings, dkim_key_file=tmp_path / "missing.pem")
    build_sample_week(sessions, unreadable)
    backend = backend_from_url(f"smtp://127.0.0.1:{smtp_port}?starttls=off")
    with pytest.raises(ConfigError, match="DKIM_PRIVATE_KEY_FILE: cannot read"):
        send_edition(sessions, W48, unreadable, backend)
    assert handler.envelopes == []
    counts = edition_counts(sessions, 1)
    assert (counts.sent, counts.failed) == (0, 0)
