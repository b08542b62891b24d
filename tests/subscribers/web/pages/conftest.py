"""The app on the test's store, with the sample content, and its test client."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web import create_app
from tests.support.sample import load_content
from worker.config import Settings


@pytest.fixture
def app(settings: Settings, sessions: sessionmaker[Session]) -> Flask:
    """The app with the sample content, mailing to the in-memory outbox."""
    load_content(sessions)
    app = create_app(settings, sessions=sessions)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``."""
    return app.test_client()
