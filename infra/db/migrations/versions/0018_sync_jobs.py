"""sync jobs: per tenant, a scheduled pull from one system delivered to a destination, with its durable cursor

Revision ID: 0018_sync_jobs
Revises: 0017_health_checks
Create Date: 2026-12-05 14:00:00.000000
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0018_sync_jobs"
down_revision = "0017_health_checks"
branch_labels = None
depends_on = None

_DEFAULTS = {
    "servico-faturamento": {
        "source": {
            "endpoint": "operacao", "path": "/v1/services", "records_at": "items",
            "query": {"status": "completed"}, "pagination": {"style": "offset", "total": "total"},
            "changes": {"style": "updated_since"},
        },
        "destination": {
            "endpoint": "financeiro", "action": "financeiro.create_invoice",
            "mapping": {"include": "payload", "fields": {"service_id": {"from": "id"}}},
        },
        "schedule": {"cron": "0 6 * * *"},
    },
    "agenda-operacao": {
        "source": {
            "endpoint": "agenda", "path": "/v1/appointments", "records_at": "items",
            "pagination": {"style": "cursor", "param": "cursor", "next": "next_cursor"},
            "changes": {"style": "updated_since"},
        },
        "destination": {"endpoint": "operacao", "action": "rest.upsert_appointment", "mapping": {}},
        "schedule": {"cron": "0 * * * *"},
    },
    "cuidadores-crm": {
        "source": {
            "endpoint": "cuidadores", "path": "/v1/caregivers", "records_at": None,
            "pagination": {"style": "link"}, "changes": {"style": "updated_since"},
        },
        "destination": {
            "endpoint": "crm", "action": "crm.upsert_lead",
            "mapping": {"include": "payload", "fields": {"lead_id": {"from": "id"}}},
        },
        "schedule": {"cron": "0 */4 * * *"},
    },
}  # fmt: skip


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

    # Every tenant starts with the three default jobs, disabled (as streams.sync_jobs.DEFAULT_SYNC_JOBS
    # defines them for new tenants; a frozen copy here, as this migration ran).
    for name, job in _DEFAULTS.items():
        op.execute(
            sa.text(
                "INSERT INTO sync_jobs (id, tenant_id, name, enabled, source, destination, schedule) "
                "SELECT gen_random_uuid(), id, :name, false, CAST(:source AS jsonb), CAST(:destination AS jsonb), "
                "CAST(:schedule AS jsonb) FROM tenants"
            ).bindparams(
                name=name,
                source=json.dumps(job["source"]),
                destination=json.dumps(job["destination"]),
                schedule=json.dumps(job["schedule"]),
            )
        )


def downgrade() -> None:
    op.drop_table("sync_jobs")
