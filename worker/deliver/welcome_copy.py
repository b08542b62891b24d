"""The welcome copy a newly confirmed subscriber reads first: the one an
editor stored (``digest welcome edit``, one per list), else the default
that ships as ``TEMPLATES_DIR/email/welcome.md``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.config import Settings
from worker.domain.editorial import WelcomeCopy, read_welcome_copy
from worker.errors import ConfigError
from worker.store.models import EditorCopy

#: The ``editor_copy`` name of a list's welcome copy.
WELCOME = "welcome"
#: Where the stored copy is said to come from, in errors and ``digest welcome show``.
STORED_SOURCE = "stored welcome copy"


@dataclass(frozen=True)
class CurrentWelcome:
    """The welcome copy in use and where it comes from: stored (by whom,
    when) or the default file (``updated_at`` None)."""

    copy: WelcomeCopy
    source: str  # STORED_SOURCE or the default file's path
    updated_at: dt.datetime | None = None
    updated_by: str | None = None

    @property
    def stored(self) -> bool:
        return self.updated_at is not None


def default_path(settings: Settings) -> Path:
    return settings.templates_dir / "email" / "welcome.md"


def default_welcome(settings: Settings) -> WelcomeCopy:
    """The welcome copy that ships; raises EditorialFileError naming its
    bad lines, or ConfigError when TEMPLATES_DIR lacks it."""
    path = default_path(settings)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"{path}: the default welcome copy cannot be read: {error.strerror}",
            hint="TEMPLATES_DIR must hold email/welcome.md, as the repository's templates/ does",
        ) from None
    return read_welcome_copy(text, str(path))


def current_welcome(session: Session, settings: Settings) -> CurrentWelcome:
    """The list's stored welcome copy, else the default."""
    stored = session.scalar(
        select(EditorCopy).where(EditorCopy.list_id == settings.list_id, EditorCopy.name == WELCOME)
    )
    if stored is None:
        return CurrentWelcome(default_welcome(settings), str(default_path(settings)))
    return CurrentWelcome(
        read_welcome_copy(stored.source, STORED_SOURCE),
        STORED_SOURCE,
        stored.updated_at,
        stored.updated_by,
    )
