"""tenant_partitioning: how a tenant's events are spread over a lane's partitions

``tenant`` (every existing tenant, and the default): all its events in one partition, in order.
``entity``: keyed by tenant and ordering key, in order per lead, client or conversation.

Revision ID: 0007_tenant_partitioning
Revises: 0006_event_types
Create Date: 2026-12-05 04:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_tenant_partitioning"
down_revision = "0006_event_types"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("partitioning", sa.String(length=16), server_default="tenant", nullable=False))
    op.create_check_constraint(op.f("ck_tenants_partitioning"), "tenants", "partitioning IN ('tenant', 'entity')")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenants_partitioning"), "tenants", type_="check")
    op.drop_column("tenants", "partitioning")
