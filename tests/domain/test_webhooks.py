"""The webhook values and rules (worker/domain/webhooks.py): signatures the
Standard Webhooks project's own library agrees with, the secret and the
endpoints as settings give them, and the retry schedule."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from standardwebhooks.webhooks import Webhook

from worker.domain.webhooks import (
    FIRST_RETRY,
    GIVE_UP_AFTER,
    LONGEST_WAIT,
    EventType,
    endpoint_problem,
    event_body,
    given_up,
    new_message_id,
    new_secret,
    retry_delay,
    secret_key,
    signed_headers,
)

AT = dt.datetime(2026, 12, 6, 10, 50, tzinfo=dt.UTC)


def test_a_signature_verifies_with_the_reference_library() -> None:
    secret = new_secret()
    body = event_body(EventType.VOTE_CAST, AT, {"tool": "queryfox", "note": "naïve ✓"})
    now = dt.datetime.now(dt.UTC)
    headers = signed_headers(secret_key(secret), "msg_abc", now, body.encode())
    reference = Webhook(secret)
    assert reference.verify(body.encode(), headers) == json.loads(body)
    assert headers["webhook-signature"] == reference.sign("msg_abc", now, body.encode())
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert json.loads(body) == {
        "type": "vote.cast",
        "timestamp": "2026-12-06T10:50:00Z",
        "data": {"tool": "queryfox", "note": "naïve ✓"},
    }


def test_message_ids_are_fresh_and_fit_their_column() -> None:
    ids = {new_message_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("msg_") and len(i) <= 40 for i in ids)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "does not start with whsec_"),
        ("whsec_not base64!", "is not whsec_ followed by base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "holds a key of 5 bytes"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "holds a key of 65 bytes"),
    ],
)
def test_a_bad_secret_is_refused_without_being_quoted(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as refused:
        secret_key(text)
    assert str(refused.value).startswith(problem)
    assert text.removeprefix("whsec_") not in str(refused.value)


def test_a_new_secret_is_a_valid_one() -> None:
    assert len(secret_key(new_secret())) == 32


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://site.example/hooks", ""),
        ("https://user:pass@site.example:8443/hooks?list=weekly", ""),
        ("http://127.0.0.1:8080/hooks", ""),
        ("http://localhost/hooks", ""),
        ("http://[::1]:9000/", ""),
        ("http://site.example/hooks", "is http to another machine"),
        ("http://10.0.0.5/hooks", "is http to another machine"),
        ("ftp://site.example/hooks", "is not an https URL"),
        ("https:///hooks", "has no host"),
        ("https://site.example/hooks#x", "has a fragment"),
        ("https://site.example:99999/", "is not a URL"),
        ("https://site.example:0/", "has port 0"),
        ("https://site.example/" + "a" * 2048, "is longer than 2048 characters"),
    ],
)
def test_endpoints_must_be_https_or_this_machine(url: str, problem: str) -> None:
    assert endpoint_problem(url).startswith(problem) and bool(endpoint_problem(url)) == bool(
        problem
    )


def test_retries_back_off_exponentially_with_jitter_up_to_an_hour() -> None:
    for attempts in range(1, 40):
        ceiling = min(LONGEST_WAIT, FIRST_RETRY * 2 ** (attempts - 1))
        delays = [retry_delay(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jitter: retries of many events spread out


def test_a_delivery_is_given_up_a_day_after_its_first_attempt() -> None:
    assert not given_up(AT, AT + GIVE_UP_AFTER - dt.timedelta(seconds=1))
    assert given_up(AT, AT + GIVE_UP_AFTER)
