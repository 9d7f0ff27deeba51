"""The inbox: accepted, not yet answered messages (encrypted), so a killed worker loses nothing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("persona_id", sa.String(length=64), nullable=False),
        sa.Column("flags", sa.String(length=128), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_inbox_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("update_id", name="uq_inbox_update_id"),
    )
    op.create_index("ix_inbox_user_id", "inbox", ["user_id"])
    op.create_index("ix_inbox_chat_id", "inbox", ["chat_id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_chat_id", table_name="inbox")
    op.drop_index("ix_inbox_user_id", table_name="inbox")
    op.drop_table("inbox")
