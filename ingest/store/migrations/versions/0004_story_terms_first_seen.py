"""story_terms: the story's first_seen, in the lookup index (no join to stories)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ingest.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("story_terms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_seen", ingest.store.types.UTCDateTime(), nullable=True)
        )
    op.execute(
        "UPDATE story_terms SET first_seen ="
        " (SELECT s.first_seen FROM stories s WHERE s.id = story_terms.story_id)"
    )
    with op.batch_alter_table("story_terms", schema=None) as batch_op:
        batch_op.alter_column(
            "first_seen", existing_type=ingest.store.types.UTCDateTime(), nullable=False
        )
    op.create_index(
        "ix_story_terms_lookup",
        "story_terms",
        ["term", "last_seen", "story_id"],
        unique=False,
        postgresql_include=["first_seen"],
    )
    op.drop_index("ix_story_terms_term_last_seen_story", table_name="story_terms")


def downgrade() -> None:
    op.create_index(
        "ix_story_terms_term_last_seen_story",
        "story_terms",
        ["term", "last_seen", "story_id"],
        unique=False,
    )
    op.drop_index("ix_story_terms_lookup", table_name="story_terms")
    with op.batch_alter_table("story_terms", schema=None) as batch_op:
        batch_op.drop_column("first_seen")
