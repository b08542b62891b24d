"""The web app itself (subscribers/web/__init__.py): it refuses the
development key for a public site."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from worker.config import DEV_SECRET_KEY, Settings
from worker.errors import ConfigError


def test_the_development_key_is_refused_for_a_public_site(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    public = replace(settings, secret_key=DEV_SECRET_KEY, site_url="https://verdicts.example")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(public, sessions=sessions)
    local = replace(public, site_url="http://localhost:5000")
    assert create_app(local, sessions=sessions)

    # Kept as an old key after a rotation, it would still verify every link.
    rotated = replace(public, secret_key="a-long-random-key-" + "x" * 32)
    assert create_app(rotated, sessions=sessions)
    kept = replace(rotated, old_secret_keys=("an-older-real-key", DEV_SECRET_KEY))
    with pytest.raises(ConfigError, match=r"^OLD_SECRET_KEYS holds the development key"):
        create_app(kept, sessions=sessions)
    assert create_app(replace(kept, site_url="http://127.0.0.1:5000"), sessions=sessions)
    assert create_app(replace(kept, site_url="http://[::1]:5000"), sessions=sessions)
