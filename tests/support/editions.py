"""A week built, started or sent by the real pipeline, for the tests of what
comes after a build or a send (the archive, the welcome, a pause)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from tests.support.sample import W48, build_sample_week
from worker.config import Settings
from worker.deliver.editions import Counts, build_edition, start_edition
from worker.deliver.runner import send_edition
from worker.domain.weeks import Week
from worker.mail import backend_from_url
from worker.render.renderer import Renderer


def send_sample_week(sessions: sessionmaker[Session], settings: Settings) -> None:
    """The sample content and subscribers, the week built and sent."""
    build_sample_week(sessions, settings)
    _, status = send_edition(sessions, W48, settings, backend_from_url("memory://"))
    assert status == "sent"


def start_week(sessions: sessionmaker[Session], settings: Settings, week: Week = W48) -> Counts:
    """``week``'s edition built from the store as it is and started: its
    deliveries made, to the subscribers confirmed by now."""
    build_edition(sessions, week, settings, Renderer(settings.templates_dir))
    return start_edition(sessions, week, settings)
