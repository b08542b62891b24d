"""The shared base of email service APIs, with a service of the test's own
against a real HTTP server: the next service is a payload and a result
mapping, and a failed request means the same for every service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.httpserver import serving
from tests.support.outgoing import message
from worker.errors import MailError
from worker.mail.base import Outcome, OutgoingMessage, SendResult
from worker.mail.http import HTTPBackend

TOKEN = "example-key-7781"


class ExampleBackend(HTTPBackend):
    """A service that takes two messages a request and answers each with a
    status."""

    service = "Example"
    default_host = "api.example.com"
    token_header = "X-Example-Key"
    token_name = "key"
    batch_path = "/v1/send"
    batch_limit = 2
    probe_path = "/v1/account"

    def payload(self, message: OutgoingMessage) -> dict[str, object]:
        return {"to": message.recipient, "raw": message.data.decode()}

    def message_answers(self, answer: Any) -> list[Any] | None:
        return answer.get("messages") if isinstance(answer, dict) else None

    def result(self, answer: Any) -> SendResult:
        if answer["status"] == "queued":
            return SendResult.accepted(None, answer["id"])
        return SendResult(Outcome.PERMANENT, None, answer["reason"])


@dataclass
class FakeService:
    port: int = 0
    status: int = 200
    drop_one: bool = False  # answer one message fewer than were sent
    requests: list[tuple[str, str, list[dict[str, str]]]] = field(default_factory=list)


@pytest.fixture
def service() -> Iterator[FakeService]:
    state = FakeService()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append((self.path, self.headers["X-Example-Key"], body))
            answers = [
                {"status": "rejected", "reason": "bad address"}
                if m["to"].startswith("bad")
                else {"status": "queued", "id": f"ex-{m['to']}"}
                for m in body
            ]
            answer = {"messages": answers[1:] if state.drop_one else answers}
            data = json.dumps(answer if state.status == 200 else {"error": "no"}).encode()
            self.send_response(state.status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with serving(Handler) as state.port:
        yield state


def backend_for(service: FakeService, token: str = TOKEN) -> ExampleBackend:
    return ExampleBackend(urlsplit(f"example://{token}@127.0.0.1:{service.port}?scheme=http"))


def test_a_service_is_a_payload_and_a_result_mapping(service: FakeService) -> None:
    backend = backend_for(service)
    results = backend.send_batch([message(1), message(2, "bad@example.com"), message(3)])
    assert [(r.outcome, r.text) for r in results] == [
        (Outcome.ACCEPTED, "ex-reader1@example.com"),
        (Outcome.PERMANENT, "bad address"),
        (Outcome.ACCEPTED, "ex-reader3@example.com"),
    ]
    assert [(path, token, len(body)) for path, token, body in service.requests] == [
        ("/v1/send", TOKEN, 2),
        ("/v1/send", TOKEN, 1),
    ]
    assert backend.shown_url == "example://***@127.0.0.1?scheme=http"


@pytest.mark.parametrize(
    ("status", "outcome"), [(503, Outcome.TRANSIENT), (429, Outcome.UNSENT), (422, Outcome.UNSENT)]
)
def test_a_refused_request_answers_every_message_alike(
    service: FakeService, status: int, outcome: Outcome
) -> None:
    service.status = status
    results = backend_for(service).send_batch([message(1), message(2)])
    assert {(r.outcome, r.code) for r in results} == {(outcome, status)}
    assert results[0].text.startswith(f"HTTP {status}: ")  # the reason: no words of its own


def test_a_wrong_token_stops_the_backend_without_showing_it(service: FakeService) -> None:
    service.status = 401
    with pytest.raises(MailError, match="refused the key") as caught:
        backend_for(service, "wrong-key-0001").send_batch([message(1)])
    assert "wrong-key-0001" not in str(caught.value)


def test_an_answer_that_does_not_fit_the_batch_is_transient(service: FakeService) -> None:
    service.drop_one = True
    results = backend_for(service).send_batch([message(1), message(2)])
    assert {(r.outcome, r.text) for r in results} == {
        (Outcome.TRANSIENT, "unexpected answer from Example")
    }


def test_an_unreachable_service_hands_the_batch_back() -> None:
    backend = ExampleBackend(urlsplit("example://key@127.0.0.1:9?scheme=http&timeout=1"))
    results = backend.send_batch([message(1)])
    assert results[0].outcome == Outcome.UNSENT and "unreachable" in results[0].text


def test_the_token_and_a_numeric_timeout_are_required() -> None:
    with pytest.raises(MailError, match=r"example://TOKEN@api\.example\.com needs a key"):
        ExampleBackend(urlsplit("example://api.example.com"))
    with pytest.raises(MailError, match="timeout must be a number"):
        ExampleBackend(urlsplit("example://key@api.example.com?timeout=soon"))
