"""editors' files (edition files, welcome copy), hidden content, comparison links

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:20:00

``editor_copy`` keeps an editor's Markdown file as written, one per list and
name: an ISO week ("2026-W48") for that week's edition file, "welcome" for
the welcome copy. Its ``send_at`` is the file's one-off send time, read out
so the clock can ask for it without parsing files. ``hidden_at`` keeps a
launch or comparison out of every unsent edition; ``comparison.url`` is
where a comparison's title links when the content says.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "editor_copy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_editor_copy")),
        sa.UniqueConstraint("list_id", "name", name=op.f("uq_editor_copy_list_id_name")),
    )
    with op.batch_alter_table("tool", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("comparison", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("url", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("comparison", schema=None) as batch_op:
        batch_op.drop_column("url")
        batch_op.drop_column("hidden_at")
    with op.batch_alter_table("tool", schema=None) as batch_op:
        batch_op.drop_column("hidden_at")
    op.drop_table("editor_copy")
