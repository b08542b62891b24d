"""The sample week's edition, a mail backend with chosen answers, and a lease
step in a transaction of its own: what the tests of delivery share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from subscribers.csvio import import_csv
from worker.config import PROJECT_ROOT, Settings
from worker.deliver.editions import build_edition
from worker.domain.weeks import Week
from worker.ingest.importer import import_file
from worker.mail import backend_from_url
from worker.mail.base import MailBackend, OutgoingMessage, SendResult
from worker.render.renderer import Renderer
from worker.store.models import Delivery

W48 = Week(2026, 48)
SAMPLE = PROJECT_ROOT / "sample"

P = ParamSpec("P")
T = TypeVar("T")


def load_sample(sessions: sessionmaker[Session]) -> None:
    """The sample content and its eight confirmed subscribers."""
    import_file(sessions, SAMPLE / "content.yaml")
    import_csv(sessions, SAMPLE / "subscribers.csv")


def built(sessions: sessionmaker[Session], settings: Settings, renderer: Renderer) -> None:
    """The sample loaded and week 48's edition built (not started)."""
    load_sample(sessions)
    build_edition(sessions, W48, settings, renderer)


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
