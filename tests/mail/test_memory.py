"""The memory backend: messages kept in a list, for tests."""

from __future__ import annotations

from tests.support.outgoing import message
from worker.mail import backend_from_url
from worker.mail.base import OutgoingMessage
from worker.mail.memory import MemoryBackend


def test_memory_backend_keeps_messages_until_reset(outbox: list[OutgoingMessage]) -> None:
    with backend_from_url("memory://") as backend:
        backend.send_batch([message(1)])
    with backend_from_url("memory://") as another:
        another.send_batch([message(2)])
    assert outbox is MemoryBackend.outbox
    assert [m.recipient for m in outbox] == ["reader1@example.com", "reader2@example.com"]
    MemoryBackend.reset()
    assert outbox == []
