"""The sample week's edition, a mail backend with chosen answers, and a lease
step in a transaction of its own: what the tests of delivery share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from worker.mail import backend_from_url
from worker.mail.base import MailBackend, OutgoingMessage, SendResult
from worker.store.models import Delivery

P = ParamSpec("P")
T = TypeVar("T")


def recipients(outbox: Sequence[OutgoingMessage]) -> list[str]:
    return sorted(m.recipient for m in outbox)


def leased(sessions: sessionmaker[Session]) -> int:
    """How many deliveries some worker holds a lease on."""
    with sessions() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.lease_owner.is_not(None))
            )
            or 0
        )


def committed(
    sessions: sessionmaker[Session],
    step: Callable[Concatenate[Session, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """One lease step (claim, renew, release, claimed_batch) in a
    transaction of its own, as a worker runs it."""
    with sessions.begin() as session:
        return step(session, *args, **kwargs)


class Scripted(MailBackend):
    """Answers chosen recipients with chosen results; accepts the rest."""

    def __init__(self, answers: dict[str, SendResult]) -> None:
        super().__init__(backend_from_url("memory://").url)
        self.answers = answers

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        return [self.answers.get(m.recipient, SendResult.accepted()) for m in messages]
