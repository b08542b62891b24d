"""DKIM: both paths sign the headers receivers judge a bulk sender by."""

from __future__ import annotations

import base64
import dataclasses
import re
import subprocess
from pathlib import Path

import dkim

from tests.support.messages import ADA, EDITION, NOW
from worker.compose.message import SegmentParts, compose_message
from worker.compose.template import MessageTemplate
from worker.config import Settings
from worker.domain import placeholders


def test_dkim_signs_the_unsubscribe_headers_and_feedback_id(
    settings: Settings, tmp_path: Path
) -> None:
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    signing = dataclasses.replace(settings, dkim_key_file=key, dkim_selector="s1")
    parts = SegmentParts("Verdicts", f'<a href="{placeholders.UNSUBSCRIBE_URL}">u</a>', "t\n")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s1._domainkey.verdicts.example."
        return record

    slow = compose_message(parts, ADA, EDITION, signing, now=NOW).data
    fast = MessageTemplate(parts, EDITION, signing).compose(ADA, NOW).data
    for data in (slow, fast):
        assert data.startswith(b"DKIM-Signature:")
        assert dkim.verify(data, dnsfunc=dns)
        signed = re.search(rb"h=([^;]+);", data.replace(b"\r\n", b"").replace(b" ", b""))
        assert signed is not None
        names = signed[1].lower().split(b":")
        for header in (b"list-unsubscribe", b"list-unsubscribe-post", b"feedback-id"):
            assert header in names
    # The signatures carry their own time; the messages under them are the same.
    assert slow.split(b"\r\nFrom:", 1)[1] == fast.split(b"\r\nFrom:", 1)[1]
    tampered = slow.replace(
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: nothing"
    )
    assert not dkim.verify(tampered, dnsfunc=dns)
