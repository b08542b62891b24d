"""Shared fixtures: a migrated store on SQLite and on PostgreSQL, settings,
DKIM keys, a headless browser.

Every test that asks for ``engine`` (or ``sessions``) runs twice, once per
store. PostgreSQL tests use a schema of their own in the database named by
``TEST_DATABASE_URL``; they skip when it is unreachable, unless
``VERDICT_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which turns the skip into
a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from subscribers.web.outbox import wait_for_mail
from tests.support.dkimkeys import DKIMKeys, make_keys
from tests.support.smtpserver import Handler, smtp_server
from worker.config import PROJECT_ROOT, Settings, load_settings
from worker.mail.base import OutgoingMessage
from worker.mail.memory import MemoryBackend
from worker.store import make_engine, session_factory, upgrade
from worker.store.models import Base

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("VERDICT_REQUIRE_POSTGRES") == "1"
REQUIRE_BROWSER = os.environ.get("VERDICT_REQUIRE_BROWSER") == "1"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("store") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    """An engine on a fresh, migrated PostgreSQL schema for this test run."""
    schema = f"verdict_test_{os.getpid()}"
    admin = make_engine(PG_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as error:
        admin.dispose()
        message = f"PostgreSQL unreachable at {PG_URL}: {error.orig}"
        if REQUIRE_PG:
            pytest.fail(message)
        pytest.skip(message)
    separator = "&" if "?" in PG_URL else "?"
    engine = make_engine(f"{PG_URL}{separator}options=-csearch_path%3D{schema}")
    upgrade(engine)
    yield engine
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _empty_postgres(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[Engine]:
    """An empty, migrated store: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "store.sqlite3"
        shutil.copyfile(sqlite_template, path)
        sqlite = make_engine(f"sqlite:///{path}")
        yield sqlite
        sqlite.dispose()
    else:
        pg = request.getfixturevalue("pg_engine")
        _empty_postgres(pg)
        yield pg


@pytest.fixture(autouse=True)
def outbox() -> Iterator[list[OutgoingMessage]]:
    """What the ``memory://`` backend sent during the test, emptied before
    and after every test. Mail the web app sends after its answer is waited
    for first, so that none lands in the next test's outbox."""
    MemoryBackend.reset()
    yield MemoryBackend.outbox
    wait_for_mail()
    MemoryBackend.reset()


@pytest.fixture
def handler() -> Handler:
    """What the test's SMTP server answers and what it received."""
    return Handler()


@pytest.fixture
def smtp_port(handler: Handler) -> Iterator[int]:
    """A real SMTP server (aiosmtpd) on loopback, answering as ``handler``
    says; its port."""
    with smtp_server(handler) as controller:
        yield controller.port


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def database_url(engine: Engine) -> str:
    """The URL of ``engine``, password included, for code that makes its own engine."""
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for tests: memory mail backend, fixed site and secret."""
    return load_settings(
        {},
        database_url=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        mail_url="memory://",
        site_url="https://verdicts.example",
        secret_key="test-secret-key",
        digest_timezone="Europe/Berlin",
    )


@pytest.fixture(scope="session")
def dkim_keys(tmp_path_factory: pytest.TempPathFactory) -> DKIMKeys:
    """An RSA 2048 and an Ed25519 DKIM key, and their DNS records."""
    return make_keys(tmp_path_factory.mktemp("dkim"))


@pytest.fixture
def pg_sessions(pg_engine: Engine) -> sessionmaker[Session]:
    """Sessions on an empty PostgreSQL store only (for tests of what only
    PostgreSQL can do, such as several workers at once)."""
    _empty_postgres(pg_engine)
    return session_factory(pg_engine)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, driven by Playwright (never a browser
    Playwright downloads). Skips without it, unless
    ``VERDICT_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = "playwright is not installed"
    else:
        if CHROMIUM.exists():
            with sync_playwright() as playwright:
                launched = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                yield launched
                launched.close()
            return
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
    if REQUIRE_BROWSER:
        pytest.fail(message)
    pytest.skip(message)
