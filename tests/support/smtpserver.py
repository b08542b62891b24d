"""Real SMTP servers on loopback for tests (aiosmtpd), with scripted answers.

``SMTPServer`` runs a Controller on a free port; ``Handler`` keeps what it
accepted, counts connections, and answers chosen recipients with chosen
codes (``Handler(replies={"x@example.com": "550 5.1.1 no such user"})``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def self_signed(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a throwaway self-signed certificate."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@dataclass
class Handler:
    """Accepts mail, except for recipients with a scripted reply.

    ``script`` gives a recipient one action per attempt, then "ok" once the
    list runs out: an SMTP reply ("451 4.3.0 busy") answered at RCPT,
    "drop" (close the connection in the middle of DATA) or "stall" (answer
    DATA only after ``stall_seconds``). ``delay`` slows every message down.
    """

    replies: dict[str, str] = field(default_factory=dict)
    script: dict[str, list[str]] = field(default_factory=dict)
    envelopes: list[Envelope] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    connections: int = 0
    drop_after: int | None = None  # drop the connection at DATA after this many messages
    stall_seconds: float = 3.0
    delay: float = 0.0
    pipelining: bool = True  # advertise RFC 2920 PIPELINING (aiosmtpd handles it)
    mail_reply: str | None = None  # an answer to every MAIL FROM, e.g. "553 5.7.1 not you"
    rcpt_reply: str | None = None  # an answer to every RCPT TO (Postfix's delayed reject)
    max_connections: int | None = None  # more at once are refused at EHLO with 421
    _open: list[SMTP] = field(default_factory=list)

    def _action(self, address: str) -> str:
        attempt = self.attempts.get(address, 0)
        actions = self.script.get(address, [])
        return actions[attempt] if attempt < len(actions) else "ok"

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        if not getattr(session, "counted", False):
            self._open = [s for s in self._open if s.transport and not s.transport.is_closing()]
            if self.max_connections is not None and len(self._open) >= self.max_connections:
                await server.push("421 4.7.0 too many connections from you")
                server.transport.close()  # type: ignore[union-attr]
                return []
            session.counted = True  # type: ignore[attr-defined]
            self.connections += 1
            self._open.append(server)
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        if address in self.replies:
            return self.replies[address]
        action = self._action(address)
        if action[:1].isdigit():
            self.attempts[address] = self.attempts.get(address, 0) + 1
            return action
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.drop_after is not None and len(self.envelopes) == self.drop_after:
            self.drop_after = None
            server.transport.close()  # type: ignore[union-attr]
            return "421 dropping"
        actions = {address: self._action(address) for address in envelope.rcpt_tos}
        for address in envelope.rcpt_tos:
            self.attempts[address] = self.attempts.get(address, 0) + 1
        if "drop" in actions.values():
            server.transport.close()  # type: ignore[union-attr]
            return "421 dropping"
        if "stall" in actions.values():
            await asyncio.sleep(self.stall_seconds)
            if server.transport is None or server.transport.is_closing():
                return "451 too late"  # the client gave up: nothing was delivered
        if self.delay:
            await asyncio.sleep(self.delay)
        self.envelopes.append(envelope)
        return "250 2.0.0 queued"


class Authenticator:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.user,
            self.password,
        )
        return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_server(
    handler: Handler,
    *,
    tls_context: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
    auth: tuple[str, str] | None = None,
) -> Iterator[Controller]:
    """A running server; STARTTLS when ``tls_context`` is given (TLS from the
    first byte with ``implicit_tls``), AUTH (over TLS only) with ``auth``."""
    server_kwargs: dict[str, object] = {}
    if tls_context is not None and not implicit_tls:
        server_kwargs.update(tls_context=tls_context, require_starttls=True)
    if auth is not None:
        # Implicit TLS is TLS already; aiosmtpd only knows about STARTTLS.
        server_kwargs.update(authenticator=Authenticator(*auth), auth_require_tls=not implicit_tls)
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=tls_context if implicit_tls else None,
        **server_kwargs,
    )
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
