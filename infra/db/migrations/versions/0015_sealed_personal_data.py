"""sealed personal data: dead letters' values sealed, and the digests of the people they are about

Revision ID: 0015_sealed_personal_data
Revises: 0014_event_archive
Create Date: 2026-12-05 11:00:00.000000

Rows archived before this revision keep their value in the clear (``value_sealed`` false): a
migration cannot read the secret box's keys, so ``crmbus keys reseal`` (and the ``reseal`` job of
the workers) seals them. Their ``subjects`` stay empty: they are found by their event ids.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015_sealed_personal_data"
down_revision = "0014_event_archive"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dead_letter", sa.Column("value_sealed", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column(
        "dead_letter",
        sa.Column("subjects", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
    )
    op.create_index("ix_dead_letter_subjects", "dead_letter", ["subjects"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_dead_letter_subjects", table_name="dead_letter")
    op.drop_column("dead_letter", "subjects")
    op.drop_column("dead_letter", "value_sealed")
