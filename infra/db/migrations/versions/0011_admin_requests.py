"""admin requests: the first answer to each admin API POST sent with an Idempotency-Key

Revision ID: 0011_admin_requests
Revises: 0010_console_sessions
Create Date: 2026-12-05 07:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011_admin_requests"
down_revision = "0010_console_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_requests",
        sa.Column("key_id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(length=1000), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("headers", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_admin_requests_key_id_api_keys"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("key_id", "target", "idempotency_key", name=op.f("pk_admin_requests")),
    )


def downgrade() -> None:
    op.drop_table("admin_requests")
