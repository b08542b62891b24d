"""Backends chosen by MAIL_URL's scheme through the entry point group."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.outgoing import message
from worker.errors import MailError
from worker.mail import available_schemes, backend_from_url

PASSWORD = "s3cret-pa55word"


def test_schemes_come_from_the_entry_point_group() -> None:
    assert {"file", "console", "memory", "smtp", "smtps"} <= set(available_schemes())
    with pytest.raises(MailError) as caught:
        backend_from_url(f"carrier-pigeon://user:{PASSWORD}@coop")
    assert "carrier-pigeon" in str(caught.value) and "smtp" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_a_package_adds_a_scheme_through_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed distribution that registers a MailBackend subclass under
    verdict_digest.mail_backends is chosen by its scheme; one that registers
    something else is refused by name."""
    (tmp_path / "pigeon_post.py").write_text(
        "from worker.mail.base import MailBackend, SendResult\n"
        "class PigeonBackend(MailBackend):\n"
        "    def send_batch(self, messages):\n"
        "        return [SendResult.accepted(None, 'flown') for _ in messages]\n"
        "class NotABackend:\n"
        "    pass\n"
    )
    info = tmp_path / "pigeon_post-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pigeon-post\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[verdict_digest.mail_backends]\n"
        "pigeon = pigeon_post:PigeonBackend\n"
        "raven = pigeon_post:NotABackend\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "pigeon" in available_schemes()
    with backend_from_url("pigeon://loft.example?rate=100") as backend:
        assert type(backend).__name__ == "PigeonBackend" and backend.rate_limit is not None
        assert backend.send_batch([message(1)])[0].text == "flown"
    with pytest.raises(MailError, match="pigeon_post:NotABackend is not a MailBackend"):
        backend_from_url("raven://loft.example")
