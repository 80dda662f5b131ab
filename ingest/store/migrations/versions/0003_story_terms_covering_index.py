"""story_terms: candidate lookup index holds the story id (index-only scans)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 15:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The new index serves every query the old one did (same leading columns).
    op.create_index(
        "ix_story_terms_term_last_seen_story",
        "story_terms",
        ["term", "last_seen", "story_id"],
        unique=False,
    )
    op.drop_index("ix_story_terms_term_last_seen", table_name="story_terms")


def downgrade() -> None:
    op.create_index(
        "ix_story_terms_term_last_seen", "story_terms", ["term", "last_seen"], unique=False
    )
    op.drop_index("ix_story_terms_term_last_seen_story", table_name="story_terms")
