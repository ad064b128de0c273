"""replays: DLQ replays remembered, dead letters filed by event and delivery, replayed outcomes kept

``replays``: one row per replay an operator started (its selection, who, how far it got); a
dead letter sent back names its replay. ``dead_letter`` gains the event id (the delivery id was
there, never filled) and a discarded letter's reason. A replayed delivery's attempts count from 1
again, so ``webhook_deliveries`` is unique by (delivery id, attempt, time): an outcome archived
twice keeps its time, a replay's attempt has another.

Revision ID: 0009_replays
Revises: 0008_key_scopes
Create Date: 2026-12-05 07:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009_replays"
down_revision = "0008_key_scopes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replays",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("selection", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="running", nullable=False),
        sa.Column("selected", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('running', 'done', 'interrupted')", name=op.f("ck_replays_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replays")),
    )
    op.create_index(op.f("ix_replays_tenant_id_created_at"), "replays", ["tenant_id", "created_at"])
    op.add_column("dead_letter", sa.Column("event_id", sa.Uuid(), nullable=True))
    op.add_column("dead_letter", sa.Column("replay_id", sa.Uuid(), nullable=True))
    op.add_column("dead_letter", sa.Column("discard_reason", sa.Text(), nullable=True))
    op.create_foreign_key(
        op.f("fk_dead_letter_replay_id_replays"), "dead_letter", "replays", ["replay_id"], ["id"], ondelete="SET NULL"
    )
    op.create_index(op.f("ix_dead_letter_status_id"), "dead_letter", ["status", "id"])
    op.create_index(op.f("ix_dead_letter_delivery_id"), "dead_letter", ["delivery_id"])
    op.create_index(op.f("ix_dead_letter_event_id"), "dead_letter", ["event_id"])
    op.drop_constraint(op.f("uq_webhook_deliveries_delivery_id_attempt"), "webhook_deliveries", type_="unique")
    op.create_unique_constraint(
        op.f("uq_webhook_deliveries_delivery_id_attempt_created_at"),
        "webhook_deliveries",
        ["delivery_id", "attempt", "created_at"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("uq_webhook_deliveries_delivery_id_attempt_created_at"), "webhook_deliveries", type_="unique"
    )
    # A replay's outcomes share (delivery id, attempt) with the attempts before it: keep the first.
    op.execute(
        "DELETE FROM webhook_deliveries a USING webhook_deliveries b "
        "WHERE a.delivery_id = b.delivery_id AND a.attempt = b.attempt AND a.id > b.id"
    )
    op.create_unique_constraint(
        op.f("uq_webhook_deliveries_delivery_id_attempt"), "webhook_deliveries", ["delivery_id", "attempt"]
    )
    op.drop_index(op.f("ix_dead_letter_event_id"), table_name="dead_letter")
    op.drop_index(op.f("ix_dead_letter_delivery_id"), table_name="dead_letter")
    op.drop_index(op.f("ix_dead_letter_status_id"), table_name="dead_letter")
    op.drop_constraint(op.f("fk_dead_letter_replay_id_replays"), "dead_letter", type_="foreignkey")
    op.drop_column("dead_letter", "discard_reason")
    op.drop_column("dead_letter", "replay_id")
    op.drop_column("dead_letter", "event_id")
    op.drop_index(op.f("ix_replays_tenant_id_created_at"), table_name="replays")
    op.drop_table("replays")
