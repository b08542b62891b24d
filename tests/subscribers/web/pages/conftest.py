"""The app on the test's store, with the sample content, and its test client."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from worker.config import PROJECT_ROOT, Settings
from worker.ingest.importer import import_file


@pytest.fixture
def app(settings: Settings, sessions: sessionmaker[Session]) -> Flask:
    """The app with the sample content, mailing to the in-memory outbox."""
    import_file(sessions, PROJECT_ROOT / "sample" / "content.yaml")
    app = create_app(settings, sessions=sessions)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``."""
    return app.test_client()
