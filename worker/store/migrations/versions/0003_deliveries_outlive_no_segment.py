"""a delivery's segment cannot be deleted under it; drop delivery.message_id

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:30:00

Rebuilding an edition replaces its segments. With ON DELETE CASCADE, a
rebuild racing the start of the send (possible on SQLite, which has no row
locks) deleted the deliveries just made; now the rebuild fails instead, and
the build sees the edition has started. delivery.message_id was never
written: the Message-ID is derived from the edition and the subscriber.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_delivery_segment_id_edition_segment"


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_constraint(FK, type_="foreignkey")
        batch_op.create_foreign_key(FK, "edition_segment", ["segment_id"], ["id"])
        batch_op.drop_column("message_id")


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.String(length=300), nullable=True))
        batch_op.drop_constraint(FK, type_="foreignkey")
        batch_op.create_foreign_key(
            FK, "edition_segment", ["segment_id"], ["id"], ondelete="CASCADE"
        )
