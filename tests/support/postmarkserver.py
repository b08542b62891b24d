"""A local HTTP server that speaks Postmark's documented batch API (POST
/email/batch, X-Postmark-Server-Token, one answer per message with its
ErrorCode), for the backend's tests and the test sends through it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "server-token-5e3f"


@dataclass
class FakePostmark:
    """What the server answers (settable) and what it was sent."""

    port: int = 0
    status: int = 200
    inactive: set[str] = field(default_factory=set)
    # An account-level ErrorCode answered for every message (405: out of credits).
    account_error: int = 0
    answer_after: float = 0.0  # seconds before answering a batch it has taken
    batches: list[list[dict[str, object]]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)


INACTIVE = "You tried to send to a recipient that has been marked as inactive."


@contextmanager
def postmark_server() -> Iterator[FakePostmark]:
    """A Postmark look-alike on an ephemeral loopback port."""
    state = FakePostmark()

    def answer(n: int, message: dict[str, str]) -> dict[str, object]:
        address = message["To"].split("<")[-1].rstrip(">")
        if state.account_error:
            return {"ErrorCode": state.account_error, "Message": "Not allowed to send"}
        refused = address in state.inactive
        return {
            "ErrorCode": 406 if refused else 0,
            "Message": INACTIVE if refused else "OK",
            "MessageID": f"pm-{n}",
            "To": message["To"],
        }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

        def do_POST(self) -> None:
            state.tokens.append(self.headers.get("X-Postmark-Server-Token", ""))
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/email/batch" or self.headers["Content-Type"] != "application/json":
                self._answer(404, {"ErrorCode": 404, "Message": "Not found"})
            elif state.tokens[-1] != TOKEN:
                self._answer(401, {"ErrorCode": 10, "Message": "Bad or missing Server API token."})
            elif state.status != 200:
                self._answer(state.status, {"ErrorCode": 100, "Message": "Maintenance"})
            else:
                state.batches.append(body)
                time.sleep(state.answer_after)
                self._answer(200, [answer(n, m) for n, m in enumerate(body)])

        def _answer(self, status: int, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
