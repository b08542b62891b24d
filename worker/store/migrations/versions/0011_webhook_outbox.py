"""the webhook outbox: events, endpoints and each event's delivery to each

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 09:00:00

``webhook_event`` is a transactional outbox: an event is written in the
transaction of the change that causes it (a confirmation, an unsubscribe, a
vote, an edition sent), so it exists exactly when the change does. The
worker fans each event out to the endpoints of ``WEBHOOK_URLS``
(``webhook_endpoint``, one row per URL seen, with when and why it was
disabled) as ``webhook_delivery`` rows, and sends those in order per
subscriber. Partial indexes hold only the events not yet fanned out and the
deliveries still pending, so they stay small however long the history.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each as the dialect writes "not fanned out" in a query, for its planner.
UNFANNED_PG = sa.text("NOT fanned_out")
UNFANNED_SQLITE = sa.text("fanned_out = 0")
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_table(
        "webhook_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fanned_out", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_event")),
        sa.UniqueConstraint("message_id", name=op.f("uq_webhook_event_message_id")),
        # Ids give the order of events: SQLite must never reuse one.
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_webhook_event_created_at"), "webhook_event", ["created_at"], unique=False
    )
    op.create_index(
        "ix_webhook_event_unfanned",
        "webhook_event",
        ["id"],
        postgresql_where=UNFANNED_PG,
        sqlite_where=UNFANNED_SQLITE,
    )
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoint")),
        sa.UniqueConstraint("url", name=op.f("uq_webhook_endpoint_url")),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')",
            name=op.f("ck_webhook_delivery_status"),
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoint.id"],
            name=op.f("fk_webhook_delivery_endpoint_id_webhook_endpoint"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["webhook_event.id"],
            name=op.f("fk_webhook_delivery_event_id_webhook_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
        sa.UniqueConstraint(
            "event_id", "endpoint_id", name=op.f("uq_webhook_delivery_event_id_endpoint_id")
        ),
    )
    op.create_index(
        op.f("ix_webhook_delivery_endpoint_id"), "webhook_delivery", ["endpoint_id"], unique=False
    )
    op.create_index(
        "ix_webhook_delivery_due",
        "webhook_delivery",
        ["endpoint_id", "next_attempt_at", "event_id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_webhook_delivery_order",
        "webhook_delivery",
        ["endpoint_id", "subscriber_id", "event_id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_table("webhook_delivery")
    op.drop_table("webhook_endpoint")
    op.drop_table("webhook_event")
