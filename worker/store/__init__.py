"""The store: engine, sessions and schema migrations.

Sessions are made at the edge (the CLI, a test) and passed in::

    engine = make_engine(settings.database_url)
    with session_factory(engine).begin() as session:
        ...
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    create_engine,
    event,
    func,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SAWarning
from sqlalchemy.orm import Session, sessionmaker

from worker.config import redact_url
from worker.errors import ConfigError, driver_words
from worker.now import process_now

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


#: Seconds a PostgreSQL connection may take, unless the URL says
#: (``?connect_timeout=``): without one, a host that drops packets holds a
#: health check, the clock or a stopping worker for about two minutes.
CONNECT_TIMEOUT = 10


#: The stores the worker is built and tested for.
BACKENDS = ("sqlite", "postgresql")


def parse_database_url(text: str) -> URL:
    """``text`` parsed, or a ConfigError naming DATABASE_URL (and
    not its password) when it is no URL or not a store of :data:`BACKENDS`."""
    shown = redact_url(text)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"DATABASE_URL: not a database URL: {shown}",
            hint="sqlite:///FILE or postgresql://USER@HOST/DATABASE",
        ) from None
    if url.get_backend_name() not in BACKENDS:
        raise ConfigError(
            f"DATABASE_URL: {url.get_backend_name()} is not supported: {shown}",
            hint="sqlite:///FILE or postgresql://USER@HOST/DATABASE",
        )
    return url


def make_engine(database_url: str, *, create: bool = True, **kwargs: Any) -> Engine:
    """An engine for ``database_url``; SQLite gets foreign keys and a busy
    timeout, PostgreSQL a connect timeout. A URL the worker cannot use (see
    :func:`parse_database_url`), with a driver or option it does not know, is a
    ConfigError; so is a SQLite file that does not exist, unless ``create``
    (connecting would leave an empty file behind, then report it empty)."""
    url = parse_database_url(database_url)
    file = url.database if url.get_backend_name() == "sqlite" else None
    on_disk = file and file != ":memory:" and not file.startswith("file:")
    if not create and on_disk and not Path(str(file)).exists():
        raise ConfigError(
            f"DATABASE_URL: no store at {file}; nothing was created",
            hint="digest db upgrade creates it; to try the sample week instead, "
            "digest preview --sample and digest lint --sample need no store",
        )
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        kwargs["connect_args"] = {
            "connect_timeout": CONNECT_TIMEOUT,
            **kwargs.get("connect_args", {}),
        }
    try:
        with warnings.catch_warnings():
            # "Query string argument(s) … are being ignored": a typo in an
            # option is the operator's to fix, not a warning to scroll past.
            warnings.simplefilter("error", SAWarning)
            engine = create_engine(url, **kwargs)
    except (
        ArgumentError,
        NoSuchModuleError,
        ImportError,
        ValueError,
        TypeError,
        SAWarning,
    ) as error:
        # A driver that is not installed, or a query option it does not take.
        raise ConfigError(
            f"DATABASE_URL: cannot use {redact_url(database_url)}: {driver_words(error)}"
        ) from None
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            if engine.url.database not in (None, "", ":memory:"):
                # WAL: readers (the web app, status) never wait on the
                # worker's writes, and a commit appends to the log instead
                # of rewriting pages. synchronous=NORMAL syncs at checkpoints
                # only: a killed process loses nothing committed; a power cut
                # may lose the last commits, never the store (docs/decisions.md).
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine`` that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def upsert(store: Session | Connection, model: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT for ``model`` in the dialect of ``store`` (a session, or a
    connection), which has ``on_conflict_do_nothing`` and
    ``on_conflict_do_update`` (both stores support them)."""
    bind = store.get_bind() if isinstance(store, Session) else store
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def store_now(session: Session) -> dt.datetime:
    """The time by the store's clock: what leases of several machines are
    measured against (a worker's own clock may be off). SQLite is only ever
    on this machine, whose clock it is."""
    if session.get_bind().dialect.name == "postgresql":
        moment = session.scalar(select(func.statement_timestamp()))
        assert isinstance(moment, dt.datetime)
        return moment.astimezone(dt.UTC)
    return process_now()


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that migrates ``engine``'s database.

    Alembic is imported here, not with the store: a worker that only sends
    never needs it, and it costs about 20 MB of memory."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema to ``revision``."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database.

    Read with a plain query (what Alembic's MigrationContext reads), so
    that the processes that only probe the store never import Alembic."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
