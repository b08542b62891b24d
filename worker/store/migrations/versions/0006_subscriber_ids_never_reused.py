"""subscriber ids are never reused on SQLite

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 16:00:00

Links carry the subscriber's id for 400 days. Without AUTOINCREMENT, SQLite
gives a new row the highest id plus one, so deleting the newest subscriber
would hand their id, and their old links, to the next one. PostgreSQL's
sequences never go back; nothing to do there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "subscriber", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
