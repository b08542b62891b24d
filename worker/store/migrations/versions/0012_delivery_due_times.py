"""a delivery's due time: each reader's morning

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 14:10:00

``delivery.due_at`` is when a delivery may be sent: NULL is "now" (every
delivery made before this revision, and every one of an edition started
with DIGEST_SEND_LOCAL off); with it on, each reader's wall-clock
DIGEST_SEND_AT time in their own zone. The queue's partial index now holds
only the undated deliveries, and a second one holds the dated ones by due
time, so a claim reads the deliveries that are due and never one that is
not (docs/delivery.md, "Due times").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = sa.text("status = 'queued'")
UNDATED = sa.text("status = 'queued' AND due_at IS NULL")
DATED = sa.text("status = 'queued' AND due_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index("ix_delivery_queued")
        batch_op.create_index(
            "ix_delivery_queued",
            ["edition_id", "id"],
            postgresql_where=UNDATED,
            sqlite_where=UNDATED,
        )
        batch_op.create_index(
            "ix_delivery_due",
            ["edition_id", "due_at", "id"],
            postgresql_where=DATED,
            sqlite_where=DATED,
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_due")
        batch_op.drop_index("ix_delivery_queued")
        batch_op.create_index(
            "ix_delivery_queued",
            ["edition_id", "id"],
            postgresql_where=QUEUED,
            sqlite_where=QUEUED,
        )
        batch_op.drop_column("due_at")
