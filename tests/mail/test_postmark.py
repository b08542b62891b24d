"""The Postmark backend against a local HTTP server that speaks Postmark's
documented batch API (POST /email/batch, X-Postmark-Server-Token, one answer
per message with its ErrorCode)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postmarkserver import TOKEN, FakePostmark, postmark_server
from worker.compose.ids import EditionRef
from worker.compose.message import Recipient, SegmentParts, compose_message
from worker.config import Settings
from worker.domain.suppression import SuppressionReason
from worker.errors import MailError
from worker.mail import backend_from_url
from worker.mail.base import Outcome
from worker.mail.postmark import BATCH_LIMIT, PostmarkBackend


@pytest.fixture
def postmark() -> Iterator[FakePostmark]:
    with postmark_server() as state:
        yield state


def messages(settings: Settings, count: int) -> list:  # type: ignore[type-arg]
    parts = SegmentParts(
        "Verdicts ✓", '<p>100% · 50%</p><a href="%%unsubscribe_url%%">u</a>', "100%\n"
    )
    return [
        compose_message(
            parts,
            Recipient(n, f"reader{n}@example.com", f"Reader {n}"),
            EditionRef(1, "2026-W48"),
            settings,
            with_fields=True,
        )
        for n in range(count)
    ]


def test_a_batch_goes_out_as_one_request_with_the_list_headers(
    postmark: FakePostmark, settings: Settings
) -> None:
    postmark.inactive = {"reader2@example.com"}
    backend = backend_from_url(f"postmark://{TOKEN}@127.0.0.1:{postmark.port}?scheme=http")
    assert isinstance(backend, PostmarkBackend)
    with backend:
        results = backend.send_batch(messages(settings, 4))
    assert [r.outcome for r in results] == [
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
        Outcome.PERMANENT,
        Outcome.ACCEPTED,
    ]
    assert results[2].code == 406 and "inactive" in results[2].text
    assert results[2].suppress == SuppressionReason.HARD_BOUNCE
    assert postmark.tokens == [TOKEN]
    (batch,) = postmark.batches
    first = batch[0]
    assert first["To"] == "Reader 0 <reader0@example.com>"
    assert first["Subject"] == "Verdicts ✓"
    assert first["MessageStream"] == "broadcast"
    assert "100% · 50%" in first["HtmlBody"] and first["TextBody"] == "100%\n"
    headers = {h["Name"]: h["Value"] for h in first["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].startswith("<https://verdicts.example/u/")
    assert "/u/" in first["HtmlBody"]


def test_batches_are_cut_at_the_api_limit(postmark: FakePostmark, settings: Settings) -> None:
    backend = backend_from_url(f"postmark://{TOKEN}@127.0.0.1:{postmark.port}?scheme=http")
    results = backend.send_batch(messages(settings, BATCH_LIMIT + 3))
    assert len(results) == BATCH_LIMIT + 3
    assert [len(b) for b in postmark.batches] == [BATCH_LIMIT, 3]


def test_server_errors_are_retried_counted_and_a_bad_token_stops(
    postmark: FakePostmark, settings: Settings
) -> None:
    """A 5xx may hide messages sent: a transient failure, whose attempts
    are counted and capped. A 429 sent nothing: handed back. A wrong token
    stops the backend."""
    backend = backend_from_url(f"postmark://{TOKEN}@127.0.0.1:{postmark.port}?scheme=http")
    postmark.status = 503
    results = backend.send_batch(messages(settings, 2))
    assert {(r.outcome, r.code) for r in results} == {(Outcome.TRANSIENT, 503)}
    postmark.status = 429
    results = backend.send_batch(messages(settings, 2))
    assert {(r.outcome, r.code) for r in results} == {(Outcome.UNSENT, 429)}
    postmark.status = 200
    wrong = backend_from_url(f"postmark://nope-token@127.0.0.1:{postmark.port}?scheme=http")
    with pytest.raises(MailError, match="refused the server token") as caught:
        wrong.send_batch(messages(settings, 1))
    assert "nope-token" not in str(caught.value)


def test_an_answer_that_never_comes_is_a_transient_failure(
    postmark: FakePostmark, settings: Settings
) -> None:
    """The batch reached Postmark: handing it back uncounted would resend it
    without end, so each message is a counted transient failure."""
    postmark.answer_after = 2.0
    backend = backend_from_url(
        f"postmark://{TOKEN}@127.0.0.1:{postmark.port}?scheme=http&timeout=0.5"
    )
    results = backend.send_batch(messages(settings, 3))
    assert {r.outcome for r in results} == {Outcome.TRANSIENT}
    assert "no answer from Postmark" in results[0].text and len(postmark.batches) == 1


def test_an_account_that_may_not_send_charges_no_recipient(
    postmark: FakePostmark, settings: Settings
) -> None:
    """Out of credits (405) is the account's problem: nothing is failed or
    suppressed, the batch comes back unsent."""
    postmark.account_error = 405
    backend = backend_from_url(f"postmark://{TOKEN}@127.0.0.1:{postmark.port}?scheme=http")
    results = backend.send_batch(messages(settings, 3))
    assert [(r.outcome, r.code, r.suppress) for r in results] == [(Outcome.UNSENT, 405, None)] * 3


def test_an_unreachable_api_hands_the_batch_back() -> None:
    backend = backend_from_url(f"postmark://{TOKEN}@127.0.0.1:9?scheme=http&timeout=1")
    results = backend.send_batch(messages(Settings(site_url="https://verdicts.example"), 1))
    assert results[0].outcome == Outcome.UNSENT and "unreachable" in results[0].text


def test_the_token_is_required() -> None:
    with pytest.raises(MailError, match="needs a server token"):
        backend_from_url("postmark://api.postmarkapp.com")


def test_messages_without_fields_are_refused(settings: Settings) -> None:
    backend = backend_from_url(f"postmark://{TOKEN}@127.0.0.1:9?scheme=http")
    plain = compose_message(
        SegmentParts("s", "<p>h</p>", "t"),
        Recipient(1, "reader@example.com", None),
        EditionRef(1, "2026-W48"),
        settings,
    )
    with pytest.raises(MailError, match="with_fields"):
        backend.send_batch([plain])
