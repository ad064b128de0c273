"""event archive: every accepted event, sealed, in daily range partitions of its accepted time

Revision ID: 0014_event_archive
Revises: 0013_job_runs
Create Date: 2026-12-05 11:00:00.000000
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014_event_archive"
down_revision = "0013_job_runs"
branch_labels = None
depends_on = None

_DAYS_AHEAD = 3


def upgrade() -> None:
    op.create_table(
        "event_archive",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("entity_id", sa.String(200), nullable=True),
        sa.Column("lane", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column("subjects", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "accepted_at", name="pk_event_archive"),
        postgresql_partition_by="RANGE (accepted_at)",
    )
    op.create_index("ix_event_archive_tenant_id_accepted_at", "event_archive", ["tenant_id", "accepted_at"])
    op.create_index("ix_event_archive_tenant_id_entity_id", "event_archive", ["tenant_id", "entity_id"])
    op.create_index("ix_event_archive_subjects", "event_archive", ["subjects"], postgresql_using="gin")
    op.execute("CREATE TABLE event_archive_default PARTITION OF event_archive DEFAULT")
    today = datetime.now(UTC).date()
    for ahead in range(_DAYS_AHEAD + 1):
        day = today + timedelta(days=ahead)
        after = day + timedelta(days=1)
        op.execute(
            f"CREATE TABLE event_archive_p{day:%Y%m%d} PARTITION OF event_archive "
            f"FOR VALUES FROM ('{day.isoformat()} 00:00:00+00') TO ('{after.isoformat()} 00:00:00+00')"
        )


def downgrade() -> None:
    op.drop_table("event_archive")  # its partitions go with it
