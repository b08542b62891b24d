"""pauses, soft bounces, rate limits and bounce intake

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_REASONS = "'unknown_user', 'hard_bounce', 'complaint', 'manual'"
REASONS = "'unknown_user', 'hard_bounce', 'soft_bounces', 'complaint', 'manual'"
KINDS = "'hard_bounce', 'soft_bounce', 'complaint', 'unsubscribe', 'delivered', 'other'"


def upgrade() -> None:
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("soft_bounces", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("suppression", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_suppression_reason"), type_="check")
        batch_op.create_check_constraint("reason", f"reason IN ({REASONS})")
    op.create_table(
        "rate_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_hit")),
    )
    op.create_index("ix_rate_hit_key_at", "rate_hit", ["key", "at"], unique=False)
    op.create_table(
        "intake_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("event_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"kind IN ({KINDS})", name=op.f("ck_intake_event_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_event")),
        sa.UniqueConstraint("source", "event_key", name=op.f("uq_intake_event_source_event_key")),
    )
    op.create_index(op.f("ix_intake_event_email"), "intake_event", ["email"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_intake_event_email"), table_name="intake_event")
    op.drop_table("intake_event")
    op.drop_index("ix_rate_hit_key_at", table_name="rate_hit")
    op.drop_table("rate_hit")
    op.execute("DELETE FROM suppression WHERE reason = 'soft_bounces'")
    with op.batch_alter_table("suppression", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_suppression_reason"), type_="check")
        batch_op.create_check_constraint("reason", f"reason IN ({OLD_REASONS})")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_column("soft_bounces")
        batch_op.drop_column("paused_until")
