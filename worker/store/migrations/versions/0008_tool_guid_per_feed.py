"""a tool's guid is unique within its feed, not across feeds

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00

An entry's identity is (feed, guid): with one guid for the whole store, a
feed that published another feed's guid first took that feed's entry over.
Tools imported from content files have no feed and no guid. A downgrade
fails while two feeds share a guid (delete one of the two tools first).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tool", schema=None) as batch_op:
        batch_op.drop_constraint("uq_tool_guid", type_="unique")
        batch_op.create_unique_constraint("uq_tool_feed_id_guid", ["feed_id", "guid"])


def downgrade() -> None:
    with op.batch_alter_table("tool", schema=None) as batch_op:
        batch_op.drop_constraint("uq_tool_feed_id_guid", type_="unique")
        batch_op.create_unique_constraint("uq_tool_guid", ["guid"])
