"""``digest db``: the store's schema."""

import click

from worker.cli.common import (
    console,
    load,
)
from worker.config import redact_url
from worker.store import current_revision, make_engine, upgrade


@click.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create the schema or migrate it to the latest revision."""
    settings = load()
    engine = make_engine(settings.database_url)
    before = current_revision(engine)
    upgrade(engine)
    after = current_revision(engine)
    # What Alembic's own lines said, which the log leaves out unless -v.
    done = f"migrated from {before or 'empty'} to {after}" if before != after else after
    console.print(f"database at {redact_url(settings.database_url)} is up to date ({done})")
