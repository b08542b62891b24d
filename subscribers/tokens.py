"""Signed link tokens: one salt per purpose, key rotation by a list of old keys.

Modelled on Flask's signed cookies (``URLSafeTimedSerializer``). A token made
for one purpose never verifies for another; a forged, altered or expired token
raises :class:`BadToken` and does nothing else.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from typing import Any

from itsdangerous import BadData, Serializer, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode

from worker.config import Settings

DAY = 24 * 3600


class Purpose(enum.StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    VOTE = "vote"
    VIEW = "view"


# How long a link keeps working. Unsubscribe links must outlive any mail
# client's cache of an old edition, so they get the longest.
MAX_AGE = {
    Purpose.CONFIRM: 7 * DAY,
    Purpose.UNSUBSCRIBE: 400 * DAY,
    Purpose.PREFERENCES: 400 * DAY,
    Purpose.VOTE: 60 * DAY,
    Purpose.VIEW: 400 * DAY,
}


class BadToken(Exception):
    """The token is forged, altered, expired or made for another purpose."""


class _Signer(TimestampSigner):
    """Signs with a given issue time, so that one message composed twice
    (the hot path and a full compose) carries the same tokens."""

    def __init__(self, *args: Any, issued_at: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.issued_at = issued_at

    def get_timestamp(self) -> int:
        return super().get_timestamp() if self.issued_at is None else self.issued_at


class _Serializer(URLSafeTimedSerializer):
    """Never compresses: the payloads are a few bytes, and zlib was a third
    of the cost of making a recipient's links. Loading still accepts
    compressed tokens."""

    default_signer = _Signer

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))

    def dumps_at(self, obj: Any, issued_at: int) -> str:
        signer = _Signer(
            self.secret_keys, salt=self.salt, issued_at=issued_at, **self.signer_kwargs
        )
        return signer.sign(self.dump_payload(obj)).decode("ascii")


@functools.cache
def _serializer_for(keys: tuple[str, ...], purpose: Purpose) -> _Serializer:
    # itsdangerous signs with the last key and accepts every key in the list.
    return _Serializer(list(keys), salt=f"verdict-digest.{purpose.value}")


def _serializer(settings: Settings, purpose: Purpose) -> _Serializer:
    return _serializer_for((*settings.old_secret_keys, settings.secret_key), purpose)


def make_token(
    settings: Settings, purpose: Purpose, payload: Any, *, issued_at: dt.datetime | None = None
) -> str:
    """A URL-safe token carrying ``payload`` (JSON-serialisable), signed for
    ``purpose``; its age is counted from ``issued_at`` (default: now)."""
    moment = issued_at or dt.datetime.now(dt.UTC)
    return _serializer(settings, purpose).dumps_at(payload, int(moment.timestamp()))


def read_token(settings: Settings, purpose: Purpose, token: str) -> Any:
    """The payload of ``token`` if it is genuine, unexpired and for ``purpose``."""
    try:
        return _serializer(settings, purpose).loads(token, max_age=MAX_AGE[purpose])
    except BadData:
        raise BadToken(
            f"this {purpose.value} link is not valid (altered, expired or forged)"
        ) from None


def subscriber_payload(subscriber_id: int, list_id: str) -> list[int | str]:
    """The payload of a recipient's links: who, and on which list."""
    return [subscriber_id, list_id]
