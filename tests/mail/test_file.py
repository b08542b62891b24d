"""The file backend: one ``.eml`` per message, written atomically."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from tests.support.outgoing import message
from worker.mail import backend_from_url
from worker.mail.file import FileBackend


def test_file_backend_writes_one_eml_per_message(tmp_path: Path) -> None:
    backend = backend_from_url(f"file://{tmp_path / 'out'}")
    assert isinstance(backend, FileBackend)
    with backend:
        backend.send_batch([message(n) for n in range(3)])
    files = sorted((tmp_path / "out").glob("*.eml"))
    assert len(files) == 3 and not list((tmp_path / "out").glob(".*"))
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == "<m0@verdicts.example>"


def test_file_backend_relative_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with backend_from_url("file://outbox") as backend:
        backend.send_batch([message(1)])
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
