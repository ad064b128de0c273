"""job runs: one row per periodic job and tick, whose insert is the claim to run it

Revision ID: 0013_job_runs
Revises: 0012_replay_heartbeats
Create Date: 2026-12-05 10:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013_job_runs"
down_revision = "0012_replay_heartbeats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("tick", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("details", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.CheckConstraint("outcome IS NULL OR outcome IN ('succeeded', 'failed')", name="ck_job_runs_outcome"),
        sa.PrimaryKeyConstraint("job", "tick", name="pk_job_runs"),
    )
    op.create_index("ix_job_runs_job_finished_at", "job_runs", ["job", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_job_runs_job_finished_at", table_name="job_runs")
    op.drop_table("job_runs")
