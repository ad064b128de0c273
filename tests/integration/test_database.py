"""The Alembic migrations build the schema the models describe, on a real PostgreSQL."""

import hashlib
import secrets

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra.db.migrate import alembic_config, downgrade, upgrade
from infra.db.models import ApiKey, Base, Tenant
from infra.db.partitions import compared
from infra.db.sync_jobs import SyncJobs
from infra.db.tenants import Tenants
from streams.sync_jobs import DEFAULT_SYNC_JOBS

TABLES = {
    "tenants", "api_keys", "webhook_endpoints", "event_mappings", "webhook_deliveries",
    "dead_letter", "audit_log", "inbound_sources", "signature_claims", "event_status", "event_types", "replays",
    "console_sessions",
    "job_runs", "sync_jobs",
    "event_archive",
}  # fmt: skip


def test_migrations_create_every_table_and_the_recommended_indexes(migrated, unique):
    inspector = inspect(migrated)
    assert set(inspector.get_table_names(schema=unique)) >= TABLES
    delivery_indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("webhook_deliveries", schema=unique)}
    assert ("endpoint_id", "status") in delivery_indexes
    assert ("status", "created_at") in delivery_indexes
    dead_letter_indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("dead_letter", schema=unique)}
    assert ("status", "created_at") in dead_letter_indexes


def test_the_migrated_schema_matches_the_models_exactly(migrated, unique):
    with migrated.connect() as conn:
        # Partitions are made by the retention job, not described by the models (their parents are).
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": compared})
        diff = [d for d in compare_metadata(context, Base.metadata) if "alembic_version" not in str(d)]
    assert diff == []


def test_a_tenant_and_its_hashed_api_key_are_written_and_read_back(migrated):
    secret = secrets.token_urlsafe(24)
    with Session(migrated) as session:
        session.add(Tenant(id="acme", name="Acme Cuidados"))
        session.flush()
        session.add(
            ApiKey(tenant_id="acme", name="site", prefix="crmb_ab12", key_hash=hashlib.sha256(secret.encode()).digest())
        )
        session.commit()
    with Session(migrated) as session:
        key = session.scalars(select(ApiKey).where(ApiKey.key_hash == hashlib.sha256(secret.encode()).digest())).one()
        assert key.tenant_id == "acme"
        assert key.scopes == ["events:read", "events:write"]  # a key made without scopes is a producer
        assert key.revoked_at is None


def test_an_api_key_hash_is_unique(migrated):
    digest = hashlib.sha256(b"same").digest()
    with Session(migrated) as session:
        session.add(Tenant(id="acme", name="Acme"))
        session.flush()
        session.add_all([ApiKey(tenant_id="acme", name=n, prefix="p", key_hash=digest) for n in ("a", "b")])
        with pytest.raises(IntegrityError):
            session.commit()


def test_downgrading_to_base_removes_every_table(migrated, unique):
    downgrade(migrated, schema=unique)
    assert TABLES.isdisjoint(inspect(migrated).get_table_names(schema=unique))
    upgrade(migrated, schema=unique)
    head = ScriptDirectory.from_config(alembic_config(migrated, unique)).get_current_head()
    with migrated.connect() as conn:
        assert conn.execute(text(f'SELECT version_num FROM "{unique}".alembic_version')).scalar_one() == head


def test_the_unused_sync_jobs_table_makes_way_for_the_sync_jobs_own_and_a_downgrade_brings_it_back(migrated, unique):
    def columns() -> set[str]:
        return {column["name"] for column in inspect(migrated).get_columns("sync_jobs", schema=unique)}

    assert {"position", "watermark", "consecutive_failures"} <= columns()
    assert "cursor" not in columns()
    downgrade(migrated, schema=unique, revision="0002")
    inspector = inspect(migrated)
    assert "cursor" in columns()
    indexes = {ix["name"]: tuple(ix["column_names"]) for ix in inspector.get_indexes("sync_jobs", schema=unique)}
    assert indexes["ix_sync_jobs_enabled_next"] == ("enabled", "next_run_at")
    upgrade(migrated, schema=unique)
    assert "position" in columns()
    assert "cursor" not in columns()


def test_every_tenant_has_the_three_default_sync_jobs_disabled_after_the_upgrade_and_when_created(migrated, unique):
    downgrade(migrated, schema=unique, revision="0017_health_checks")
    with migrated.begin() as conn:
        conn.execute(text(f"INSERT INTO \"{unique}\".tenants (id, name) VALUES ('acme', 'Acme')"))
    upgrade(migrated, schema=unique)
    Tenants(migrated, actor="test").create("beta", "Beta", sandbox_url=None)
    for tenant in ("acme", "beta"):
        jobs = SyncJobs(migrated).list(tenant)
        assert [(job.name, job.enabled) for job in jobs] == [
            ("agenda-operacao", False), ("cuidadores-crm", False), ("servico-faturamento", False),
        ]  # fmt: skip
        assert {job.name: job.source for job in jobs} == {
            name: job["source"] for name, job in DEFAULT_SYNC_JOBS.items()
        }


def test_tenants_that_existed_before_partitioning_was_stored_are_partitioned_by_tenant(migrated, unique):
    downgrade(migrated, schema=unique, revision="0006_event_types")
    with migrated.begin() as conn:
        conn.execute(text(f"INSERT INTO \"{unique}\".tenants (id, name) VALUES ('acme', 'Acme')"))
    upgrade(migrated, schema=unique)
    with Session(migrated) as session:
        assert session.get(Tenant, "acme").partitioning == "tenant"
        session.add(Tenant(id="beta", name="Beta", partitioning="lead"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_key_made_before_scopes_existed_is_a_producer_after_the_upgrade(migrated, unique):
    downgrade(migrated, schema=unique, revision="0007_tenant_partitioning")
    with migrated.begin() as conn:
        conn.execute(text(f"INSERT INTO \"{unique}\".tenants (id, name) VALUES ('acme', 'Acme')"))
        conn.execute(
            text(
                f'INSERT INTO "{unique}".api_keys (id, tenant_id, name, prefix, key_hash) '
                "VALUES (gen_random_uuid(), 'acme', 'site', 'p', :digest)"
            ),
            {"digest": hashlib.sha256(b"old").digest()},
        )
        assert conn.execute(text(f'SELECT scopes FROM "{unique}".api_keys')).scalar_one() == ["events:write"]
    upgrade(migrated, schema=unique)
    with Session(migrated) as session:
        assert session.scalars(select(ApiKey.scopes)).one() == ["events:read", "events:write"]
