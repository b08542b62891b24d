"""The mail backend interface: open, send a batch, close.

A backend takes ready message bytes (see :mod:`worker.compose`) and answers
one :class:`SendResult` per message, in order. It never raises for a single
recipient's failure. When it cannot send at all (the server is down, refuses
our sender or our credentials, the service refuses the account) it answers
:attr:`Outcome.UNSENT` for the messages it could not try, or raises
:class:`worker.errors.MailError` before any went out (bad configuration,
server unreachable on open): nothing is charged to those recipients.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Self
from urllib.parse import SplitResult, parse_qs

from worker.domain.suppression import SuppressionReason
from worker.errors import MailError
from worker.mail.pacing import RateLimit


@dataclass(frozen=True)
class MessageFields:
    """A message as an email service's API takes it: its parts, which the
    service assembles into MIME itself."""

    sender: str  # the From header
    to: str  # the To header, display name and address
    subject: str
    text: str
    html: str
    headers: tuple[tuple[str, str], ...]  # List-Id, List-Unsubscribe, Feedback-ID, …


@dataclass(frozen=True)
class OutgoingMessage:
    """A message ready for the wire; with :class:`MessageFields` too when
    the backend asked for them (see :attr:`MailBackend.wants_fields`)."""

    envelope_from: str
    recipient: str
    data: bytes  # the whole message, CRLF line endings
    message_id: str
    fields: MessageFields | None = None
    # No line of ``data`` begins with a dot (the composer's template makes
    # sure of it): SMTP sends it without looking for dots to double.
    dot_free: bool = False


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"
    TRANSIENT = "transient"  # 4xx, dropped connection, timeout: try again later
    PERMANENT = "permanent"  # 5xx: do not retry
    UNSENT = "unsent"  # the backend could not send at all: hand back, no attempt counted


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    code: int | None = None
    text: str = ""
    # Set on a permanent failure that says the address is dead (an SMTP
    # 5.1.x unknown user, a provider's inactive recipient): the reason it is
    # added to the suppression list with.
    suppress: SuppressionReason | None = None

    @classmethod
    def accepted(cls, code: int | None = 250, text: str = "OK") -> SendResult:
        return cls(Outcome.ACCEPTED, code, text)


def url_options(url: SplitResult) -> dict[str, str]:
    """A URL's query as options (``MAIL_URL``'s ``?timeout=5&verify=off``,
    ``BOUNCE_IMAP_URL``'s); a name given twice keeps its last value."""
    return {name: values[-1] for name, values in parse_qs(url.query).items()}


class MailBackend:
    """Base class: subclasses implement :meth:`send_batch`, and open/close if
    they hold a connection. Usable as a context manager. :attr:`options`
    holds ``MAIL_URL``'s query (:func:`url_options`)."""

    #: True for backends that send a message's parts rather than its bytes
    #: (email service APIs): the composer then fills in
    #: :attr:`OutgoingMessage.fields`, so that nothing parses MIME per message.
    wants_fields: ClassVar[bool] = False

    def __init__(self, url: SplitResult) -> None:
        self.url = url
        self.options = url_options(url)
        self.rate_limit: RateLimit | None = None
        if "rate" in self.options:
            try:
                burst = int(self.options["burst"]) if "burst" in self.options else None
                self.rate_limit = RateLimit(float(self.options["rate"]), burst)
            except ValueError:
                raise MailError("MAIL_URL: rate and burst must be positive numbers") from None

    def paced(self, messages: Iterable[OutgoingMessage]) -> Iterable[OutgoingMessage]:
        """``messages`` at the backend's rate limit, if it has one."""
        return self.rate_limit.paced(messages) if self.rate_limit else messages

    def open(self) -> None:
        """Get ready to send (connect, log in). Idempotent."""

    def close(self) -> None:
        """Release what :meth:`open` took. Idempotent."""

    def send_batch(self, messages: Iterable[OutgoingMessage]) -> list[SendResult]:
        """Send ``messages``; one result per message, in order.

        ``messages`` may be a generator that composes each message when it is
        taken, so a backend that sends in the background overlaps composing
        with the network.
        """
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.open()
        except Exception:
            # Release what open() took before it failed (a connection made
            # before the login was refused), as Django's backends do.
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
