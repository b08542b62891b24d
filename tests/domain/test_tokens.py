"""Signed link tokens: a salt per purpose, key rotation, an issue time, and
the format itsdangerous itself reads and writes."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from itsdangerous import URLSafeTimedSerializer

from worker.config import Settings
from worker.domain.tokens import (
    MAX_AGE,
    BadToken,
    Purpose,
    make_token,
    make_tokens,
    read_token,
    subscriber_payload,
)

PAYLOAD = subscriber_payload(42, "weekly")


def test_a_token_reads_back_for_its_purpose_only(settings: Settings) -> None:
    token = make_token(settings, Purpose.UNSUBSCRIBE, PAYLOAD)
    assert read_token(settings, Purpose.UNSUBSCRIBE, token) == [42, "weekly"]
    for other in set(Purpose) - {Purpose.UNSUBSCRIBE}:
        with pytest.raises(BadToken, match=f"this {other.value} link is not valid"):
            read_token(settings, other, token)


def test_altered_and_forged_tokens_are_refused(settings: Settings) -> None:
    token = make_token(settings, Purpose.VOTE, PAYLOAD)
    body, stamp, signature = token.split(".")
    someone_else = make_token(settings, Purpose.VOTE, subscriber_payload(43, "weekly"))
    forged = make_token(dataclasses.replace(settings, secret_key="guessed"), Purpose.VOTE, PAYLOAD)
    # The first character: the last one's low bits are base64 padding.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for bad in (
        f"{someone_else.split('.')[0]}.{stamp}.{signature}",  # another payload, same signature
        f"{body}.{stamp}.{flipped}",
        forged,
        "",
        "not-a-token",
        token + "x",
    ):
        with pytest.raises(BadToken):
            read_token(settings, Purpose.VOTE, bad)


def test_tokens_expire_by_purpose(settings: Settings) -> None:
    # Every purpose has its age, and each is one a link is made for.
    assert set(MAX_AGE) == set(Purpose)
    assert {p.value for p in Purpose} == {"confirm", "unsubscribe", "preferences", "vote"}
    now = dt.datetime.now(dt.UTC)
    for purpose, seconds in MAX_AGE.items():
        fresh = make_token(settings, purpose, PAYLOAD, issued_at=now - dt.timedelta(seconds=60))
        assert read_token(settings, purpose, fresh) == [42, "weekly"]
        stale = make_token(
            settings, purpose, PAYLOAD, issued_at=now - dt.timedelta(seconds=seconds + 60)
        )
        with pytest.raises(BadToken):
            read_token(settings, purpose, stale)


def test_old_keys_still_verify_after_a_rotation(settings: Settings) -> None:
    before = make_token(settings, Purpose.PREFERENCES, PAYLOAD)
    rotated = dataclasses.replace(
        settings, secret_key="the-new-key", old_secret_keys=(settings.secret_key,)
    )
    assert read_token(rotated, Purpose.PREFERENCES, before) == [42, "weekly"]
    after = make_token(rotated, Purpose.PREFERENCES, PAYLOAD)
    assert read_token(rotated, Purpose.PREFERENCES, after) == [42, "weekly"]
    with pytest.raises(BadToken):
        read_token(settings, Purpose.PREFERENCES, after)  # the old key alone: not its signature
    retired = dataclasses.replace(rotated, old_secret_keys=())
    with pytest.raises(BadToken):
        read_token(retired, Purpose.PREFERENCES, before)


def test_the_same_issue_time_gives_the_same_tokens(settings: Settings) -> None:
    at = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
    purposes = (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES, Purpose.VOTE)
    together = make_tokens(settings, purposes, PAYLOAD, issued_at=at)
    assert together == make_tokens(settings, purposes, PAYLOAD, issued_at=at)
    assert together == [make_token(settings, p, PAYLOAD, issued_at=at) for p in purposes]
    assert len(set(together)) == 3


def test_itsdangerous_reads_our_tokens_and_we_read_its_own(settings: Settings) -> None:
    """The signing shortcuts (a cached key, one stamp for several purposes)
    keep itsdangerous's format: a stock serializer agrees both ways."""
    rotated = dataclasses.replace(settings, secret_key="new", old_secret_keys=("old",))
    for purpose in Purpose:
        stock = URLSafeTimedSerializer(["old", "new"], salt=f"verdict-digest.{purpose.value}")
        ours = make_token(rotated, purpose, PAYLOAD)
        assert stock.loads(ours, max_age=60) == [42, "weekly"]
        assert read_token(rotated, purpose, stock.dumps(PAYLOAD)) == [42, "weekly"]
        old_stock = URLSafeTimedSerializer("old", salt=f"verdict-digest.{purpose.value}")
        assert read_token(rotated, purpose, old_stock.dumps(PAYLOAD)) == [42, "weekly"]
