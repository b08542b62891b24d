"""``memory://``: messages kept in a list, for tests (Django's locmem)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from worker.mail.base import MailBackend, OutgoingMessage, SendResult


class MemoryBackend(MailBackend):
    """Every instance appends to the one class-level :attr:`outbox`."""

    outbox: ClassVar[list[OutgoingMessage]] = []

    @classmethod
    def reset(cls) -> None:
        cls.outbox.clear()

    def send_batch(self, messages: Iterable[OutgoingMessage]) -> list[SendResult]:
        taken = list(messages)
        self.outbox.extend(taken)
        return [SendResult.accepted() for _ in taken]
