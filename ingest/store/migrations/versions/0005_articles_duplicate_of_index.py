"""articles: index on duplicate_of (a moved story member's copies are found by it)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 21:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_articles_duplicate_of", "articles", ["duplicate_of"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_articles_duplicate_of", table_name="articles")
