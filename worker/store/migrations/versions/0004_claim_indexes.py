"""claim indexes that hold only what is left to send

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 16:40:00

The claim walked (edition, status, id). With the statistics of a freshly
filled table PostgreSQL preferred the primary key and a filter, and mid-send
that reads every row already sent before reaching one still queued: a scan
per claim. Partial indexes hold only the queued, or the deferred, deliveries,
so they shrink as the send goes on and no plan can do better than them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = sa.text("status = 'queued'")
DEFERRED = sa.text("status = 'deferred'")


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_claim")
        batch_op.create_index(
            "ix_delivery_queued",
            ["edition_id", "id"],
            postgresql_where=QUEUED,
            sqlite_where=QUEUED,
        )
        batch_op.create_index(
            "ix_delivery_deferred",
            ["edition_id", "next_attempt_at"],
            postgresql_where=DEFERRED,
            sqlite_where=DEFERRED,
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_deferred")
        batch_op.drop_index("ix_delivery_queued")
        batch_op.create_index("ix_delivery_claim", ["edition_id", "status", "id"], unique=False)
