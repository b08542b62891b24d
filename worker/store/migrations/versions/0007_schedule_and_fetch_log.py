"""approvals, holds and the log of fetches

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 16:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("edition", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("approved_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("held_by", sa.String(length=200), nullable=True))
    op.create_table(
        "fetch_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("new_launches", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feed.id"], name=op.f("fk_fetch_log_feed_id_feed"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fetch_log")),
    )
    op.create_index(
        "ix_fetch_log_feed_id_fetched_at", "fetch_log", ["feed_id", "fetched_at"], unique=False
    )
    op.create_index(op.f("ix_fetch_log_fetched_at"), "fetch_log", ["fetched_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_fetch_log_fetched_at"), table_name="fetch_log")
    op.drop_index("ix_fetch_log_feed_id_fetched_at", table_name="fetch_log")
    op.drop_table("fetch_log")
    with op.batch_alter_table("edition", schema=None) as batch_op:
        batch_op.drop_column("held_by")
        batch_op.drop_column("held_at")
        batch_op.drop_column("approved_by")
        batch_op.drop_column("approved_at")
