"""health checks: the latest probe and session status of each destination with a health call

Revision ID: 0017_health_checks
Revises: 0016_partitioned_history
Create Date: 2026-12-05 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_health_checks"
# 0016_partitioned_history in the shared plan; the lead fixes the chain when merging.
down_revision = "0016_partitioned_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_checks",
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("instance", sa.String(200), nullable=True),
        sa.Column("probe_status", sa.String(8), nullable=False),
        sa.Column("session_status", sa.String(16), nullable=True),
        sa.Column("error_class", sa.String(100), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("session_changed_by", sa.String(8), nullable=True),
        sa.CheckConstraint("probe_status IN ('up', 'down')", name="ck_health_checks_probe_status"),
        sa.CheckConstraint(
            "session_status IS NULL OR session_status IN ('connected', 'disconnected')",
            name="ck_health_checks_session_status",
        ),
        sa.CheckConstraint(
            "session_changed_by IS NULL OR session_changed_by IN ('probe', 'event')",
            name="ck_health_checks_session_changed_by",
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name="fk_health_checks_endpoint_id_webhook_endpoints",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("endpoint_id", name="pk_health_checks"),
    )
    op.create_index("ix_health_checks_tenant_kind_instance", "health_checks", ["tenant_id", "kind", "instance"])


def downgrade() -> None:
    op.drop_index("ix_health_checks_tenant_kind_instance", table_name="health_checks")
    op.drop_table("health_checks")
