"""key_scopes: what each API key may do, platform keys, and paused destinations

Every key made before scopes existed held ``["events:write"]`` and could also read its events:
it becomes a ``producer`` (events:write, events:read). A key may now belong to no tenant when it
holds ``admin`` (the platform's operators). A destination may be paused: its deliveries wait in
a retry tier, none is attempted or dead-lettered, until it is resumed.

Revision ID: 0008_key_scopes
Revises: 0007_tenant_partitioning
Create Date: 2026-12-05 08:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_key_scopes"
down_revision = "0007_tenant_partitioning"
branch_labels = None
depends_on = None

_PRODUCER = '\'["events:read", "events:write"]\'::jsonb'
_OLD = "'[\"events:write\"]'::jsonb"


def upgrade() -> None:
    op.execute('UPDATE api_keys SET scopes = \'["events:read", "events:write"]\' WHERE scopes = \'["events:write"]\'')
    op.alter_column("api_keys", "scopes", server_default=sa.text(_PRODUCER), existing_type=postgresql.JSONB())
    op.alter_column("api_keys", "tenant_id", nullable=True, existing_type=sa.String(length=64))
    op.create_check_constraint(
        op.f("ck_api_keys_platform_keys_are_admin"), "api_keys", "tenant_id IS NOT NULL OR scopes ? 'admin'"
    )
    op.add_column("webhook_endpoints", sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("webhook_endpoints", "paused_at")
    op.execute("DELETE FROM api_keys WHERE tenant_id IS NULL")
    op.drop_constraint(op.f("ck_api_keys_platform_keys_are_admin"), "api_keys", type_="check")
    op.alter_column("api_keys", "tenant_id", nullable=False, existing_type=sa.String(length=64))
    op.alter_column("api_keys", "scopes", server_default=sa.text(_OLD), existing_type=postgresql.JSONB())
