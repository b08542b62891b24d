"""Test sends (``digest send --test``): the week's message for one segment,
marked as a test, to each of a few addresses; no delivery is recorded."""

from __future__ import annotations

from collections.abc import Sequence

from worker.compose.message import Recipient
from worker.config import Settings, refuse_development_key
from worker.domain.weeks import Week
from worker.editor.preview import compose_preview
from worker.editor.source import week_source
from worker.mail import backend_from_url
from worker.mail.base import SendResult
from worker.render.renderer import Renderer


def send_tests(
    settings: Settings, week: Week, segment: str, addresses: Sequence[str], *, sample: bool
) -> list[SendResult]:
    """Compose ``segment``'s message of ``week`` for each of ``addresses``
    (marked ``[TEST]``, with ``X-Digest-Test``) and send them through
    ``MAIL_URL``'s backend in one batch: one result per address, in order.
    With ``sample``, the week is the sample data's (see :func:`week_source`)."""
    refuse_development_key(settings, f"sending proofs for {settings.site_url}")
    backend = backend_from_url(settings.mail_url)  # a bad MAIL_URL fails before any work
    with week_source(settings, week, sample=sample) as source:
        renderer = Renderer(settings.templates_dir)
        messages = [
            compose_preview(
                source,
                segment,
                renderer,
                settings,
                recipient=Recipient(0, address, None),
                test=True,
                with_fields=backend.wants_fields,
            ).message
            for address in addresses
        ]
    with backend:
        return backend.send_batch(messages)
