"""replay heartbeats: when a running replay last marked a page

A replay ``running`` whose heartbeat is fresh is being run by some process, and resuming it
would send its pages twice; one whose heartbeat is stale was stopped without a word (its process
killed) and may be resumed.

Revision ID: 0012_replay_heartbeats
Revises: 0011_admin_requests
Create Date: 2026-12-05 08:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_replay_heartbeats"
down_revision = "0011_admin_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "replays",
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("replays", "heartbeat_at")
