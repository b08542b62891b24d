"""click counts per edition and item; a subscriber's time zone

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 10:50:00

``click_count`` counts the clicks on an edition's links by item (a
comparison, a launch, a tool), never by reader: the redirect token names an
edition and an item, not a subscriber. ``subscriber.timezone`` is the IANA
zone a reader gave (the subscribe form, preferences, a CSV import); empty
means DIGEST_TIMEZONE.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "click_count",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=300), nullable=False),
        sa.Column("clicks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["edition.id"],
            name=op.f("fk_click_count_edition_id_edition"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_click_count")),
        sa.UniqueConstraint("edition_id", "item", name=op.f("uq_click_count_edition_id_item")),
    )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_column("timezone")
    op.drop_table("click_count")
