"""Signed link tokens: one salt per purpose, key rotation by a list of old keys.

Modelled on Flask's signed cookies (``URLSafeTimedSerializer``). A token made
for one purpose never verifies for another; a forged, altered or expired token
raises :class:`BadToken` and does nothing else.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
from collections.abc import Sequence
from typing import Any, Protocol

from itsdangerous import BadData, Serializer, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes, want_bytes
from itsdangerous.signer import HMACAlgorithm

from worker.domain.keyed import hmac_of
from worker.errors import DigestError
from worker.now import process_now

DAY = 24 * 3600


class SigningKeys(Protocol):
    """What signing needs of the settings (:class:`worker.config.Settings`
    has it): the key, older keys still accepted, and the list's id."""

    @property
    def secret_key(self) -> str: ...

    @property
    def old_secret_keys(self) -> tuple[str, ...]: ...

    @property
    def list_id(self) -> str: ...


class Purpose(enum.StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    VOTE = "vote"


# How long a link keeps working. Unsubscribe links must outlive any mail
# client's cache of an old edition, so they get the longest.
MAX_AGE = {
    Purpose.CONFIRM: 7 * DAY,
    Purpose.UNSUBSCRIBE: 400 * DAY,
    Purpose.PREFERENCES: 400 * DAY,
    Purpose.VOTE: 60 * DAY,
}


# Pending subscriptions go when their confirmation link expires.
CONFIRM_WINDOW = dt.timedelta(seconds=MAX_AGE[Purpose.CONFIRM])


class BadToken(DigestError):
    """The token is forged, altered, expired or made for another purpose."""


class _HMACSHA1(HMACAlgorithm):
    """itsdangerous's default HMAC-SHA1, from a keyed HMAC made once per key
    (:mod:`worker.domain.keyed`)."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac_of(key, "sha1", value).digest()


_ALGORITHM = _HMACSHA1(hashlib.sha1)


class _Signer(TimestampSigner):
    """itsdangerous's timed signer, its tokens unchanged, with the derived
    key computed once per key and salt instead of once per token."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("algorithm", _ALGORITHM)
        super().__init__(*args, **kwargs)

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        return _django_concat(self.salt, key)


@functools.lru_cache(maxsize=256)
def _django_concat(salt: bytes, key: bytes) -> bytes:
    # The derivation itsdangerous's Signer uses by default ("django-concat").
    return hashlib.sha1(salt + b"signer" + key).digest()


class _Serializer(URLSafeTimedSerializer):
    """Never compresses: the payloads are a few bytes, and zlib was a third
    of the cost of making a recipient's links. Loading still accepts
    compressed tokens."""

    default_signer = _Signer

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


@functools.cache
def _serializer_for(keys: tuple[str, ...], purpose: Purpose) -> _Serializer:
    # itsdangerous signs with the last key and accepts every key in the list.
    return _Serializer(list(keys), salt=f"verdict-digest.{purpose.value}")


@functools.cache
def _signer_for(keys: tuple[str, ...], purpose: Purpose) -> _Signer:
    signer = _serializer_for(keys, purpose).make_signer()
    assert isinstance(signer, _Signer)
    return signer


def _keys(settings: SigningKeys) -> tuple[str, ...]:
    return (*settings.old_secret_keys, settings.secret_key)


def _serializer(settings: SigningKeys, purpose: Purpose) -> _Serializer:
    return _serializer_for(_keys(settings), purpose)


def make_token(
    settings: SigningKeys, purpose: Purpose, payload: Any, *, issued_at: dt.datetime | None = None
) -> str:
    """A URL-safe token carrying ``payload`` (JSON-serialisable), signed for
    ``purpose``; its age is counted from ``issued_at`` (default: now)."""
    return make_tokens(settings, (purpose,), payload, issued_at=issued_at)[0]


def make_tokens(
    settings: SigningKeys,
    purposes: Sequence[Purpose],
    payload: Any,
    *,
    issued_at: dt.datetime | None = None,
) -> list[str]:
    """One token per purpose, all carrying ``payload`` and issued at
    ``issued_at`` (default: now); what a message's links need.

    The payload is serialised and stamped once and signed once per purpose,
    in the format of ``TimestampSigner.sign`` (payload, issue time and
    signature joined by dots), so that itsdangerous reads the tokens.
    """
    moment = int((issued_at or process_now()).timestamp())
    keys = _keys(settings)
    body = _serializer_for(keys, purposes[0]).dump_payload(payload)
    stamped = body + b"." + base64_encode(int_to_bytes(moment))
    return [
        (stamped + b"." + _signer_for(keys, p).get_signature(stamped)).decode("ascii")
        for p in purposes
    ]


def read_token(settings: SigningKeys, purpose: Purpose, token: str) -> Any:
    """The payload of ``token`` if it is genuine, unexpired and for ``purpose``."""
    return read_token_issued(settings, purpose, token)[0]


def read_token_issued(
    settings: SigningKeys, purpose: Purpose, token: str
) -> tuple[Any, dt.datetime]:
    """The payload of ``token`` and when it was issued (to the second), if it
    is genuine, unexpired and for ``purpose``."""
    try:
        payload, issued = _serializer(settings, purpose).loads(
            token, max_age=MAX_AGE[purpose], return_timestamp=True
        )
    except BadData:
        raise BadToken(
            f"this {purpose.value} link is not valid (altered, expired or forged)"
        ) from None
    return payload, issued


def read_subscriber_token(
    settings: SigningKeys, purpose: Purpose, token: str
) -> tuple[int, str, dt.datetime]:
    """The subscriber id a link's token names, its second field (the list
    id; to confirm, the address) and when it was issued. Raises
    :class:`BadToken` for a token that is not genuine, unexpired and for
    ``purpose``, or that does not hold that payload, or is for another list."""
    payload, issued_at = read_token_issued(settings, purpose, token)
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not isinstance(payload[0], int)
        or not isinstance(payload[1], str)
    ):
        raise BadToken(f"this {purpose.value} link is not valid")
    if purpose != Purpose.CONFIRM and payload[1] != settings.list_id:
        raise BadToken(f"this {purpose.value} link is for another list")
    return payload[0], payload[1], issued_at


def subscriber_payload(subscriber_id: int, list_id: str) -> list[int | str]:
    """The payload of a recipient's links: who, and on which list."""
    return [subscriber_id, list_id]
