"""The memory backend: messages kept in a list, for tests."""

from __future__ import annotations

from support.outgoing import message
from worker.mail import backend_from_url
from worker.mail.memory import MemoryBackend


def test_memory_backend_keeps_messages() -> None:
    MemoryBackend.reset()
    with backend_from_url("memory://") as backend:
        backend.send_batch([message(1)])
    assert [m.recipient for m in MemoryBackend.outbox] == ["reader1@example.com"]
    MemoryBackend.reset()
