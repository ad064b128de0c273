"""The PostgreSQL schema as SQLAlchemy models; Alembic migrations in ``migrations/`` create it.

Kafka holds events in flight; these tables hold configuration and history. Secrets are
never stored in clear: API keys as SHA-256, destination secrets encrypted by the app.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONB, datetime: DateTime(timezone=True)}  # noqa: RUF012 - SQLAlchemy's hook


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _daily(key: str) -> dict[str, str]:
    """A history table partitioned by day on ``key`` (``infra.db.partitions`` makes and drops the
    days): its primary key and unique constraints hold ``key``, as PostgreSQL requires."""
    return {"postgresql_partition_by": f"RANGE ({key})"}


class Tenant(Base):
    """A company using the bus. Every other row belongs to exactly one tenant."""

    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint("partitioning IN ('tenant', 'entity')", name="partitioning"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # slug, used as Kafka key
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    # How its events are keyed in Kafka (``streams.partitioning``): by tenant, or by tenant and entity.
    partitioning: Mapped[str] = mapped_column(String(16), server_default="tenant")
    settings: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = _now()


class ApiKey(Base):
    """A tenant's API key, or the platform's (no tenant, ``admin`` scope): only its SHA-256 is
    stored; ``prefix`` lets humans tell keys apart; ``scopes`` say what it may do."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("tenant_id IS NOT NULL OR scopes ? 'admin'", name="platform_keys_are_admin"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSONB, server_default=text('\'["events:read", "events:write"]\'::jsonb'))
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime | None]  # set on the old key when rotating: the overlap window
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class WebhookEndpoint(Base):
    """A destination of one tenant: CRM, Financeiro, Z-API, WAHA, e-mail, marketing or a webhook."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    paused_at: Mapped[datetime | None]  # paused: its deliveries wait in a retry tier, none is attempted
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class EventMapping(Base):
    """A route: events of ``event_type`` that pass ``filter`` go, mapped, to ``endpoint_id``."""

    __tablename__ = "event_mappings"
    __table_args__ = (
        Index("ix_event_mappings_tenant_type_enabled", "tenant_id", "event_type", postgresql_where=text("enabled")),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(100))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(100))
    filter: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    mapping: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    delay_seconds: Mapped[int] = mapped_column(Integer, server_default="0")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class InboundSource(Base):
    """A webhook endpoint of one tenant's source (Z-API, WAHA, site, CRM, Operacao, Financeiro).

    The URL carries a secret token (stored as SHA-256) that says which tenant and source it is;
    sources that sign their bodies also have a signing secret, stored encrypted.
    """

    __tablename__ = "inbound_sources"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    signing_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One delivery attempt and how it ended; no personal data in ``response_excerpt``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        PrimaryKeyConstraint("id", "created_at"),
        Index("ix_webhook_deliveries_endpoint_status", "endpoint_id", "status"),
        Index("ix_webhook_deliveries_status_created", "status", "created_at"),
        Index("ix_webhook_deliveries_tenant_created", "tenant_id", "created_at"),
        # A replayed delivery's attempts count from 1 again: its outcomes differ in time.
        UniqueConstraint("delivery_id", "attempt", "created_at"),
        _daily("created_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(128))
    attempt: Mapped[int] = mapped_column(Integer)
    tenant_id: Mapped[str] = mapped_column(String(64))
    endpoint_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="SET NULL"))
    destination: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))  # delivered | retrying | dead_lettered | duplicate
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Double)
    error_class: Mapped[str | None] = mapped_column(String(100))
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class EventStatus(Base):
    """What the router decided for one event (routed, no_route, deduplicated), for
    ``GET /v1/events/{id}``; the deliveries' own progress is in ``webhook_deliveries``. A replayed
    event is decided again, a row of its own: the latest decision is the event's."""

    __tablename__ = "event_status"
    __table_args__ = (PrimaryKeyConstraint("event_id", "decided_at"), _daily("decided_at"))
    event_id: Mapped[uuid.UUID]
    tenant_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(16))
    planned: Mapped[int] = mapped_column(Integer)
    failed_routes: Mapped[int] = mapped_column(Integer)
    decided_at: Mapped[datetime]


class EventTypeRevision(Base):
    """One revision of one major version of a tenant's event type: the whole type document.

    A compatible change adds a revision, a breaking one a major version; rows are never edited,
    except ``deprecated_at``, set on every revision of a major version when it is deprecated.
    """

    __tablename__ = "event_types"
    __table_args__ = (UniqueConstraint("tenant_id", "name", "version", "revision"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]]
    deprecated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _now()


class DeadLetter(Base):
    """The PostgreSQL archive of ``crmbus.dlq``: original bytes, why it failed, what became of it.
    ``created_at`` is when it was dead-lettered (the record's failure time), so that archiving the
    same record twice finds the same row."""

    __tablename__ = "dead_letter"
    __table_args__ = (
        PrimaryKeyConstraint("id", "created_at"),
        UniqueConstraint("original_topic", "original_partition", "original_offset", "created_at"),
        Index("ix_dead_letter_status_created", "status", "created_at"),
        Index("ix_dead_letter_tenant_destination", "tenant_id", "destination"),
        Index("ix_dead_letter_status_id", "status", "id"),
        Index("ix_dead_letter_delivery_id", "delivery_id"),
        Index("ix_dead_letter_event_id", "event_id"),
        Index("ix_dead_letter_subjects", "subjects", postgresql_using="gin"),
        _daily("created_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, autoincrement=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    destination: Mapped[str | None] = mapped_column(String(32))
    delivery_id: Mapped[str | None] = mapped_column(String(128))
    event_id: Mapped[uuid.UUID | None]
    original_topic: Mapped[str] = mapped_column(String(249))
    original_partition: Mapped[int] = mapped_column(Integer)
    original_offset: Mapped[int] = mapped_column(BigInteger)
    error_class: Mapped[str] = mapped_column(String(100))
    error_message: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    first_failure_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    value: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Sealed by the secret box (personal data at rest); false: archived before sealing, until resealed.
    value_sealed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Digests of the data subjects the value is about (``infra.core.subject_index``), never identifiers.
    subjects: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    headers: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(16), server_default="open")  # open | replayed | discarded
    replayed_at: Mapped[datetime | None]
    replay_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("replays.id", ondelete="SET NULL"))
    discard_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class Replay(Base):
    """One DLQ replay an operator started: what it selects, who asked, how far it got.

    ``tenant_id`` None: a platform operator's replay across tenants. ``selected`` counts the open
    letters it found when it started, ``sent`` those Kafka acknowledged and marked replayed; a run
    killed between the two is ``running`` still, its heartbeat going stale, and resuming it sends
    its open letters again."""

    __tablename__ = "replays"
    __table_args__ = (
        CheckConstraint("state IN ('running', 'done', 'interrupted')", name="state"),
        Index("ix_replays_tenant_id_created_at", "tenant_id", "created_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    selection: Mapped[dict[str, Any]]
    requested_by: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), server_default="running")
    selected: Mapped[int] = mapped_column(Integer, server_default="0")
    sent: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime] = _now()
    """When the run last began or marked a page: a ``running`` replay with a stale heartbeat was
    stopped without a word (its process killed)."""


class AuditLog(Base):
    """Who changed what in the control plane (keys, routes, destinations, replays)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        PrimaryKeyConstraint("id", "at"),
        Index("ix_audit_log_tenant_at", "tenant_id", "at"),
        _daily("at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, autoincrement=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    at: Mapped[datetime] = _now()


class JobRun(Base):
    """One run of a periodic job (retention, health probes, the daily report, sync jobs) for one
    tick of its schedule: the row's insert is the claim, so each tick runs once across every
    worker process and host. A claim whose heartbeat went stale without finishing was abandoned
    (its process killed) and may be taken over."""

    __tablename__ = "job_runs"
    __table_args__ = (
        PrimaryKeyConstraint("job", "tick"),
        CheckConstraint("outcome IS NULL OR outcome IN ('succeeded', 'failed')", name="outcome"),
        Index("ix_job_runs_job_finished_at", "job", "finished_at"),
    )
    job: Mapped[str] = mapped_column(String(100))
    tick: Mapped[datetime]
    owner: Mapped[str] = mapped_column(String(100))
    claimed_at: Mapped[datetime] = _now()
    heartbeat_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))


class HealthCheck(Base):
    """The latest proactive check of one destination whose kind has a health call (``streams.probes``):
    whether its API answered (``probe_status``) and, for WhatsApp providers, whether its session
    can send (``session_status``), updated by the probe job and by the providers' session webhooks.
    ``instance`` is the Z-API instance id or WAHA session name a session webhook names; no row
    holds personal data or a message."""

    __tablename__ = "health_checks"
    __table_args__ = (
        CheckConstraint("probe_status IN ('up', 'down')", name="probe_status"),
        CheckConstraint(
            "session_status IS NULL OR session_status IN ('connected', 'disconnected')", name="session_status"
        ),
        CheckConstraint(
            "session_changed_by IS NULL OR session_changed_by IN ('probe', 'event')", name="session_changed_by"
        ),
        Index("ix_health_checks_tenant_kind_instance", "tenant_id", "kind", "instance"),
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    instance: Mapped[str | None] = mapped_column(String(200))
    probe_status: Mapped[str] = mapped_column(String(8))
    session_status: Mapped[str | None] = mapped_column(String(16))
    error_class: Mapped[str | None] = mapped_column(String(100))
    checked_at: Mapped[datetime]
    session_changed_by: Mapped[str | None] = mapped_column(String(8))


class SyncJob(Base):
    """One tenant's scheduled pull from a system (``source``: the endpoint whose base URL, auth and
    secret it uses, and how to page through its list) delivered to a destination (``destination``:
    endpoint name, action, mapping), with its durable cursor: ``position`` (where the run under way
    resumes; null between runs), ``watermark`` (the change cursor the next run reads from) and
    ``pending_watermark`` (the cursor the run under way will keep once it reads everything). Its
    runs are claimed in ``job_runs`` under ``sync:<id>`` (``streams.sync_jobs``)."""

    __tablename__ = "sync_jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("last_outcome IS NULL OR last_outcome IN ('succeeded', 'failed')", name="last_outcome"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    source: Mapped[dict[str, Any]] = mapped_column(JSONB)
    destination: Mapped[dict[str, Any]] = mapped_column(JSONB)
    schedule: Mapped[dict[str, Any]] = mapped_column(JSONB)
    position: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    watermark: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    pending_watermark: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_outcome: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(String(100))
    last_records: Mapped[int] = mapped_column(Integer, server_default="0")
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class ArchivedEvent(Base):
    """One accepted event, as the lanes held it: the history ``crmbus events search|replay`` read.

    Range-partitioned by ``accepted_at`` (the lane record's timestamp), one partition a day
    (``event_archive_p<YYYYMMDD>``, else ``event_archive_default``), so retention drops whole
    days. The key and the record's bytes (the Avro envelope) are sealed in ``record``; what stays
    clear names no person: ``entity_id`` is a digest when the type marks its entity key personal,
    and ``subjects`` holds keyed digests of the phones, e-mails and CPFs in the payload. A
    partitioned table's unique key must hold its partition key: ``accepted_at`` is fixed by the
    lane record, so a record read twice is the same row.
    """

    __tablename__ = "event_archive"
    __table_args__ = (
        PrimaryKeyConstraint("event_id", "accepted_at"),
        Index("ix_event_archive_tenant_id_accepted_at", "tenant_id", "accepted_at"),
        Index("ix_event_archive_tenant_id_entity_id", "tenant_id", "entity_id"),
        Index("ix_event_archive_subjects", "subjects", postgresql_using="gin"),
        {"postgresql_partition_by": "RANGE (accepted_at)"},
    )
    event_id: Mapped[uuid.UUID]
    accepted_at: Mapped[datetime]
    tenant_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(200))
    entity_id: Mapped[str | None] = mapped_column(String(200))
    lane: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str] = mapped_column(String(249))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    record: Mapped[bytes] = mapped_column(LargeBinary)
    subjects: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    archived_at: Mapped[datetime] = _now()


class SignatureClaim(Base):
    """A signed webhook's signature the ingress accepted, kept until its timestamp is out of the
    tolerance window: the primary key lets one ingress process, on any host, accept it once.

    No foreign key: every claim is an insert on the intake's path, and a row outlives nothing by
    more than the window. ``signature`` is the SHA-256 of the header's value.
    """

    __tablename__ = "signature_claims"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    signature: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    expires_at: Mapped[datetime]


class ConsoleSession(Base):
    """One signed-in browser: only the SHA-256 of the session id is stored."""

    __tablename__ = "console_sessions"
    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    """The absolute end, however busy the session is."""


class AdminRequest(Base):
    """The first answer to an admin API POST sent with an ``Idempotency-Key``, kept for a day:
    the same key, target and body get it again; the same key and target with another body a 422.

    Per API key and target (method and path): two keys, or two operations, may use the same
    idempotency key. ``request_digest`` is the SHA-256 of the body; ``body`` the answer's bytes
    (a secret shown once is shown again only to the key that asked for it, with the same key).
    """

    __tablename__ = "admin_requests"
    key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True)
    target: Mapped[str] = mapped_column(String(1000), primary_key=True)  # "POST /v1/tenants/acme/routes"
    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = _now()
