"""event_status: the router's decision for each event

One row per event the router has taken (routed, no_route, deduplicated), written by the archive
agent from ``crmbus.deliveries``, read by ``GET /v1/events/{id}``.

Revision ID: 0005_event_status
Revises: 0004_signature_replay
Create Date: 2026-12-05 01:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_event_status"
down_revision = "0004_signature_replay"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_status",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("failed_routes", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_status")),
    )


def downgrade() -> None:
    op.drop_table("event_status")
