"""sync jobs: per tenant, a scheduled pull from one system delivered to a destination, with its durable cursor

Revision ID: 0018_sync_jobs
Revises: 0017_health_checks
Create Date: 2026-12-05 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0018_sync_jobs"
down_revision = "0017_health_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0003 dropped an older, never used sync_jobs table; this one is shaped anew.
    op.create_table(
        "sync_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("source", JSONB(), nullable=False),
        sa.Column("destination", JSONB(), nullable=False),
        sa.Column("schedule", JSONB(), nullable=False),
        sa.Column("position", JSONB(), nullable=True),
        sa.Column("watermark", JSONB(), nullable=True),
        sa.Column("pending_watermark", JSONB(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(16), nullable=True),
        sa.Column("last_error", sa.String(100), nullable=True),
        sa.Column("last_records", sa.Integer(), server_default="0", nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "last_outcome IS NULL OR last_outcome IN ('succeeded', 'failed')", name="ck_sync_jobs_last_outcome"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_sync_jobs_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sync_jobs"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_sync_jobs_tenant_id_name"),
    )


def downgrade() -> None:
    op.drop_table("sync_jobs")
