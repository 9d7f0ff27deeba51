"""Minors on the account: when the user first said they are under 18 (null: never).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("minor_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # in place (SQLite 3.35+): batch mode would recreate ``users``, and dropping the old table with
    # foreign keys on cascades into every table that names the user
    op.drop_column("users", "minor_since")
