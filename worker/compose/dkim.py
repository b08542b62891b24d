"""Optional DKIM signing (dkimpy), on when ``DKIM_PRIVATE_KEY_FILE`` is set.

The signature covers the headers receivers judge a bulk sender by, the
two unsubscribe headers and Feedback-ID among them (DESIGN.md), with relaxed
canonicalisation so that a relay's header refolding does not break it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import dkim

from worker.config import Settings
from worker.errors import ConfigError

SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"Feedback-ID",
    b"MIME-Version",
    b"Content-Type",
)


def sign(data: bytes, settings: Settings) -> bytes:
    """``data`` with a DKIM-Signature header in front, or as it is when DKIM is off."""
    if not settings.dkim_key_file:
        return data
    domain = settings.dkim_domain or settings.list_domain
    signature = dkim.sign(
        data,
        settings.dkim_selector.encode(),
        domain.encode(),
        _key(settings.dkim_key_file),
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=list(SIGNED_HEADERS),
    )
    return signature + data


@functools.cache
def _key(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"DKIM_PRIVATE_KEY_FILE: cannot read {path}: {error.strerror}") from None
