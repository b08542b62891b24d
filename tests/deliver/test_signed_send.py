"""A send signed with RSA and Ed25519, through the worker into a real SMTP
server: every message verifies as received, and one substituted byte
changed breaks both signatures."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session, sessionmaker

from tests.support.dkimkeys import BROKEN, VERIFIED, DKIMKeys, dkimpy_verdicts, with_byte_changed
from tests.support.sample import W48, build_sample_week
from tests.support.smtpserver import Handler
from worker.config import Settings
from worker.deliver.runner import send_edition
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
