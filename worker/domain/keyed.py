"""HMACs keyed once per key and copied per use.

Every recipient's links, Message-ID and VERP address carry an HMAC; making
one from scratch per message (``hmac.new`` with a digest name runs its key
schedule each time, and the one-shot ``hmac.digest`` gives up the GIL on
every call, which a worker's sending threads then keep) costs more than
copying a keyed C object made once per key.
"""

from __future__ import annotations

import functools
import hmac


@functools.lru_cache(maxsize=256)
def _keyed(key: bytes, digest: str) -> hmac.HMAC:
    return hmac.new(key, digestmod=digest)


def hmac_of(key: bytes, digest: str, message: bytes) -> hmac.HMAC:
    """The HMAC of ``message`` under ``key`` with ``digest`` (``"sha1"``,
    ``"sha256"``), from a keyed object cached per key."""
    mac = _keyed(key, digest).copy()
    mac.update(message)
    return mac
