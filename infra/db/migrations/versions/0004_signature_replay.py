"""signature claims: webhook signatures accepted once across every ingress process

Revision ID: 0004_signature_replay
Revises: 0003
Create Date: 2026-12-05 01:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_signature_replay"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signature_claims",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "signature", name=op.f("pk_signature_claims")),
    )


def downgrade() -> None:
    op.drop_table("signature_claims")
