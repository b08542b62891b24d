"""leases, retries and suppressions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 20:42:19.230849
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_EDITION_STATUSES = "'ready', 'sending', 'sent', 'skipped'"
EDITION_STATUSES = "'ready', 'sending', 'paused', 'sent', 'cancelled', 'skipped'"


def upgrade() -> None:
    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reason IN ('unknown_user', 'hard_bounce', 'complaint', 'manual')",
            name=op.f("ck_suppression_reason"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppression")),
        sa.UniqueConstraint("email", name=op.f("uq_suppression_email")),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_delivery_claim", ["edition_id", "status", "id"], unique=False)

    with op.batch_alter_table("edition", schema=None) as batch_op:
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("ck_edition_status"), type_="check")
        batch_op.create_check_constraint("status", f"status IN ({EDITION_STATUSES})")


def downgrade() -> None:
    with op.batch_alter_table("edition", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_edition_status"), type_="check")
        batch_op.create_check_constraint("status", f"status IN ({OLD_EDITION_STATUSES})")
        batch_op.drop_column("started_at")

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_claim")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")

    op.drop_table("suppression")
