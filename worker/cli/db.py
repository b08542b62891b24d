"""``digest db``: the store's schema."""

import click

from worker.cli.common import (
    console,
    load,
)
from worker.config import redact_url
from worker.store import make_engine, upgrade


@click.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create the schema or migrate it to the latest revision."""
    settings = load()
    upgrade(make_engine(settings.database_url))
    console.print(f"database at {redact_url(settings.database_url)} is up to date")
