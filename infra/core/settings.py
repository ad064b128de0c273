"""One typed settings object, read from ``CRMBUS_*`` environment variables once at start-up.

Every field is documented in docs/settings.md; the defaults run the whole
stack on this machine's loopback with nothing configured.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from streams.errors import ConfigurationError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
WORKER_ROLES = ("router", "scheduler", "sinks", "retry", "archive")
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class Settings(BaseSettings):
    """crmbus configuration. Secrets are ``SecretStr`` and never printed."""

    model_config = SettingsConfigDict(env_prefix="CRMBUS_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field("127.0.0.1:19092", description="Kafka bootstrap servers (host:port, comma-separated).")
    kafka_controller_port: int = Field(19093, description="KRaft controller port of the local broker crmbus runs.")
    kafka_heap_mb: int = Field(1024, ge=256, le=1024, description="Max heap of the local broker, MiB.")
    kafka_start_timeout_s: float = Field(
        90.0, gt=0, description="How long the local broker may take to answer a metadata request."
    )
    kafka_replication_factor: int = Field(
        1, ge=1, description="Replication factor of topics created from the catalogue."
    )
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        "PLAINTEXT",
        description="How every Kafka client connects: PLAINTEXT, SSL (TLS, with a client certificate for mutual "
        "TLS), SASL_PLAINTEXT or SASL_SSL (a user and password, over TLS).",
    )
    kafka_sasl_mechanism: KafkaSaslMechanism | None = Field(
        None, description="SASL mechanism, with a SASL_* protocol: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name (with a SASL_* protocol).")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (with a SASL_* protocol); never logged."
    )
    kafka_ssl_ca_file: Path | None = Field(
        None,
        description="CA certificates (PEM file) that sign the brokers' certificates (SSL, SASL_SSL); "
        "unset: the system's trust store.",
    )
    kafka_ssl_cert_file: Path | None = Field(
        None, description="Client certificate (PEM) for brokers that ask for mutual TLS (SSL, SASL_SSL)."
    )
    kafka_ssl_key_file: Path | None = Field(
        None, description="Private key (PEM) of that client certificate; set both or neither."
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="Password of that private key, when it is encrypted; never logged."
    )
    topic_prefix: str = Field(
        "", description="Prefix for every catalogue topic name (several environments on one cluster)."
    )
    database_url: SecretStr = Field(
        SecretStr("postgresql+psycopg://crmbus:crmbus@127.0.0.1:15432/crmbus"),
        description="SQLAlchemy URL of PostgreSQL. Unset and unreachable: crmbus runs its own cluster.",
    )
    postgres_data_dir: Path | None = Field(
        None,
        description="Data directory of the local PostgreSQL cluster (default: <state_dir>/postgres). "
        "Setting it lets crmbus run a cluster for a non-default loopback CRMBUS_DATABASE_URL.",
    )
    postgres_start_timeout_s: float = Field(60.0, gt=0, description="Start deadline of local PostgreSQL.")
    schema_registry_url: str | None = Field(
        None, description="Confluent-compatible schema registry; unset: ids from schemas/avro/ids.yaml."
    )
    schema_registry_basic_auth: SecretStr | None = Field(
        None, description="HTTP Basic credentials for the schema registry, as `user:password` (an API key and secret)."
    )
    schema_registry_ca_file: Path | None = Field(
        None,
        description="CA certificates (PEM file) that sign the schema registry's TLS certificate; "
        "unset: the certifi bundle, or SSL_CERT_FILE.",
    )
    schema_registry_cert_file: Path | None = Field(
        None, description="Client certificate (PEM) for a schema registry that asks for mutual TLS."
    )
    schema_registry_key_file: Path | None = Field(
        None,
        description="Private key (PEM, unencrypted) of that client certificate, unless the certificate file holds it.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Fernet keys (url-safe base64, 32 bytes each), comma-separated, newest first, sealing stored "
        "secrets and dead letters: the newest seals, any opens (crmbus keys rotate); unset: one is generated once "
        "into <state_dir>/secret.key (one key a line). Set it in production.",
    )
    subject_key: SecretStr | None = Field(
        None,
        description="Key of the digests that find a data subject's rows (phone, e-mail, CPF) for LGPD export "
        "and erasure; unset: one is generated once into <state_dir>/subject.key. Never rotate it: rows "
        "stored under the old key could no longer be found.",
    )
    state_dir: Path = Field(Path(".crmbus"), description="Where local services keep their data, logs and pid files.")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "crmbus", description="Downloaded Kafka jars, shared by every clone."
    )

    # -- ingress ---------------------------------------------------------------------------
    ingress_host: str = Field("127.0.0.1", description="Address the ingress listens on.")
    ingress_port: int = Field(18000, description="Port of the ingress (shared by its processes via SO_REUSEPORT).")
    ingress_workers: int = Field(2, ge=1, le=64, description="Ingress processes; one per core is right.")
    ingress_max_body_bytes: int = Field(262_144, ge=1024, description="Largest request body accepted (413 above).")
    ingress_batch_max: int = Field(500, ge=1, description="Most events in one POST /v1/events/batch.")
    kafka_delivery_timeout_s: float = Field(
        5.0, gt=0, le=60, description="How long a write may wait for Kafka's acknowledgement before a 503."
    )
    kafka_linger_ms: float = Field(2.0, ge=0, description="How long the ingress's producer waits to fill a batch.")
    high_priority_types: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Event types written to crmbus.events.high whatever lane their definition names (comma-separated).",
    )
    low_priority_types: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Event types written to crmbus.events.low whatever lane their definition names (comma-separated).",
    )
    rate_limit_tenant_per_s: float = Field(2000, gt=0, description="Events per second one tenant may send.")
    rate_limit_tenant_burst: float = Field(4000, ge=1, description="Events a tenant may send at once.")
    rate_limit_key_per_s: float = Field(1000, gt=0, description="Events per second one API key may send.")
    rate_limit_key_burst: float = Field(2000, ge=1, description="Events one API key may send at once.")
    admin_rate_limit_per_s: float = Field(50, gt=0, description="Admin API requests per second one API key may make.")
    admin_rate_limit_burst: float = Field(200, ge=1, description="Admin API requests one API key may make at once.")
    api_key_cache_ttl_s: float = Field(
        30, gt=0, description="How long a verified API key or webhook token is trusted without asking PostgreSQL."
    )
    api_key_cache_stale_s: float = Field(
        600, ge=0, description="How long a cached key or token still works while PostgreSQL is unreachable."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")

    # -- workers (router, scheduler) --------------------------------------------------------
    worker_processes: int = Field(2, ge=1, le=64, description="Faust worker processes `crmbus worker` starts.")
    worker_roles: Annotated[tuple[str, ...], NoDecode] = Field(
        ("router", "scheduler", "sinks", "retry", "archive"),
        description="What `crmbus worker` runs (comma-separated): router, scheduler, sinks, retry, archive. "
        "Running roles in separate processes keeps one from stalling another.",
    )
    worker_web_port: int = Field(
        18010, description="Health and metrics port of the first worker; worker i listens on this + i."
    )
    worker_web_host: str = Field(
        "127.0.0.1",
        description="Address the workers' health and metrics pages listen on. No token guards them: "
        "bind another address (0.0.0.0 in a container) only on a network you trust.",
    )
    worker_instance_id: str = Field(
        "",
        description="Static group membership id of this `crmbus worker` (process i adds `-i`): a restarted "
        "process takes its partitions back at once instead of waiting out the session timeout. Unique per "
        "`crmbus worker` across hosts; empty: derived from the host name, the state directory and the web port.",
    )
    worker_static_membership: bool = Field(
        True, description="Whether workers join their consumer group as static members (`group.instance.id`)."
    )
    worker_session_timeout_s: float = Field(
        60.0,
        ge=9,  # three heartbeats (every 3 s)
        le=90,  # Faust refuses a session timeout above its request timeout (90 s)
        description="How long the broker waits for a worker that stopped heartbeating before it gives its "
        "partitions to the others (the longest a host that died holds its partitions).",
    )
    worker_batch_max: int = Field(2000, ge=1, description="Most records a worker's agent takes in one batch.")
    worker_batch_wait_s: float = Field(
        0.02,
        gt=0,
        le=5,
        description="Longest a router or sink agent waits to fill a batch, only after a full one; otherwise it "
        "handles what is queued at once.",
    )
    worker_background_batch_wait_s: float = Field(
        0.5, gt=0, le=1.5, description="The same for the agents no delivery waits on: retry tiers, scheduler, archive."
    )
    worker_fetch_min_bytes: int = Field(
        65_536, ge=1, description="Bytes a worker's fetch asks the broker to gather before answering."
    )
    worker_fetch_max_wait_ms: int = Field(
        20, ge=0, le=1500, description="Longest the broker holds a worker's fetch to gather those bytes."
    )
    worker_idle_fetch_wait_ms: int = Field(
        500,
        ge=0,
        le=1500,
        description="Longest the broker holds a worker's fetch after one that brought nothing; it answers at "
        "the first record, so this adds no latency. 0: every fetch batches.",
    )
    worker_stall_check_s: float = Field(
        5.0,
        gt=0,
        description="How often a worker looks for partitions whose fetched records never reached their agent.",
    )
    worker_table_store: Literal["rocksdb", "memory"] = Field(
        "rocksdb",
        description="Where a worker keeps the tables holding a key per event or delivery (idempotency keys, "
        "finished delivery ids): on disk under the state directory, or in memory.",
    )
    dedupe_ttl_s: float = Field(
        86_400, gt=0, description="How long an idempotency key is remembered: a repeat within it is dropped."
    )
    sink_finished_ttl_s: float = Field(
        86_400,
        gt=0,
        description="How long a delivery id a destination took is remembered: a redelivery within it is not sent.",
    )
    routes_poll_s: float = Field(
        5.0, gt=0, description="How often workers ask PostgreSQL whether routes changed (picked up live)."
    )
    scheduler_tick_s: float = Field(
        0.5, gt=0, le=10, description="How often the scheduler releases delayed actions that are due."
    )
    jobs_check_s: float = Field(
        10.0, gt=0, le=300, description="How often a worker with the archive role looks for periodic jobs that are due."
    )
    reseal_every_s: float = Field(
        3600.0, gt=0, description="How often the workers' reseal job seals again what older secret keys sealed."
    )
    reseal_pages: int = Field(
        20, ge=1, description="How many pages (500 rows each) of sealed values one run of the reseal job looks at."
    )
    sync_check_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="How often a worker with the archive role looks for sync jobs whose schedule is due.",
    )
    jobs_lease_s: float = Field(
        120.0,
        gt=0,
        description="How long a periodic job's run may go without a heartbeat before another worker takes it over.",
    )
    retention_deliveries_days: int = Field(
        30,
        ge=1,
        description="Days the delivery log (webhook_deliveries) and routing decisions (event_status) are kept.",
    )
    retention_audit_days: int = Field(90, ge=1, description="Days the audit log (audit_log) is kept.")
    retention_dead_letters_days: int = Field(
        30,
        ge=1,
        description="Days archived dead letters are kept; a day with a letter still open is kept until none is.",
    )
    retention_events_days: int = Field(90, ge=1, description="Days the event history (event_archive) is kept.")
    retention_job_runs_days: int = Field(
        30,
        ge=1,
        description="Days the periodic and sync jobs' finished runs (job_runs) are kept; each job's latest stays.",
    )
    retention_ahead_days: int = Field(
        7, ge=1, le=60, description="Days of partitions the retention job creates ahead of today."
    )
    retention_every_s: float = Field(
        3600.0, ge=60, description="How often the retention job creates partitions ahead and drops expired ones."
    )
    health_probe_s: float = Field(
        300.0,
        ge=10,
        le=86_400,
        description="How often the destinations with a health call (Z-API, WAHA) are probed and their "
        "WhatsApp sessions read; once per interval across every worker.",
    )
    daily_report_at: time | None = Field(
        None,
        description="When the morning report is e-mailed (HH:MM in CRMBUS_DAILY_REPORT_ZONE) to each tenant whose "
        "e-mail destination's config names daily_report_to; unset: never.",
    )
    daily_report_zone: str = Field(
        "America/Sao_Paulo", description="The time zone of CRMBUS_DAILY_REPORT_AT (an IANA name)."
    )
    sink_max_in_flight: int = Field(
        64,
        ge=1,
        le=1024,
        description="Most calls one sink agent has open at once (per destination kind, per process), "
        "shared out evenly between the (tenant, destination) pairs of each batch.",
    )
    sink_attempt_deadline_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Longest a sink waits for one call: a slower call is abandoned and retried from a retry tier, "
        "and the destination's other deliveries in the batch are parked, so a slow destination never holds the batch.",
    )
    sink_rate_limit_wait_s: float = Field(
        1.0,
        ge=0,
        le=60,
        description="Longest a delivery waits for its destination's rate limit within a batch; "
        "a longer wait parks it in a retry tier until a token is free.",
    )
    outbound_allow_loopback: bool = Field(
        False,
        description="Let sinks call http:// destinations on loopback (the sandbox, tests). Keep off in production.",
    )
    outbound_allow_list: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Private networks or hosts sinks may call anyway, e.g. an internal CRM (comma-separated CIDRs "
        "or host names); everything else private, loopback or link-local is refused.",
    )
    sandbox_url: str = Field(
        "http://127.0.0.1:18100",
        description="Base URL of the sandbox destinations; a new tenant's destinations start there.",
    )

    # -- operator dashboard -----------------------------------------------------------------
    dashboard_host: str = Field(
        "127.0.0.1",
        description="Address the operator console listens on. Its pages need sign-in with an API key wherever it "
        "listens; off loopback its session cookie is `Secure`, so serve it behind TLS there.",
    )
    dashboard_port: int = Field(18020, description="Port of the operator dashboard (`crmbus dashboard`).")
    console_session_idle_s: int = Field(
        1800, gt=0, description="A console session unused this many seconds ends; the operator signs in again."
    )
    console_session_max_s: int = Field(
        43200, gt=0, description="A console session ends this many seconds after sign-in, however busy it is."
    )
    replay_lease_s: float = Field(
        60.0,
        gt=0,
        description="A running DLQ replay that marked no page for this long counts as stopped (its process "
        "killed) and may be resumed; before, a resume is refused (409): both runs would send its pages.",
    )
    dashboard_local_workers: bool = Field(
        True,
        description="Whether the dashboard scrapes the workers `crmbus worker` runs on this host (127.0.0.1, "
        "CRMBUS_WORKER_WEB_PORT + i); off where they run elsewhere, listed in CRMBUS_DASHBOARD_WORKER_URLS.",
    )
    dashboard_worker_urls: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Workers the dashboard scrapes besides those `crmbus worker` runs here (port "
        "CRMBUS_WORKER_WEB_PORT + i for each of CRMBUS_WORKER_PROCESSES): comma-separated base URLs.",
    )
    dashboard_sla_p95_ms: float = Field(
        2000, gt=0, description="Delivery SLA: 95 % of a destination's attempts answer within this many ms."
    )
    monitoring_prometheus_port: int = Field(
        19090, description="Port of the Prometheus `crmbus monitoring up` starts (on 127.0.0.1)."
    )
    monitoring_alertmanager_port: int = Field(
        19094, description="Port of the Alertmanager `crmbus monitoring up` starts (on 127.0.0.1)."
    )
    monitoring_scrape_s: float = Field(
        15.0, gt=0, le=300, description="How often that Prometheus scrapes the bus and evaluates the alert rules."
    )
    sla_task_automation_s: float = Field(
        5.0, gt=0, description="SLA of task automation (crm, financeiro, webhook): seconds from acceptance to delivery."
    )
    sla_whatsapp_s: float = Field(
        10.0, gt=0, description="SLA of WhatsApp (zapi, waha): seconds from acceptance to delivery."
    )
    sla_notifications_s: float = Field(
        30.0, gt=0, description="SLA of notifications (email, marketing): seconds from acceptance to delivery."
    )
    dashboard_sla_success_rate: float = Field(
        0.95, gt=0, le=1, description="Delivery SLA: at least this share of a destination's attempts succeed."
    )

    @field_validator("daily_report_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as America/Sao_Paulo") from None
        return value

    @property
    def daily_report_time(self) -> time | None:
        """``daily_report_at`` in its zone, as ``streams.ticks.daily_tick`` takes it."""
        at = self.daily_report_at
        return None if at is None else at.replace(tzinfo=ZoneInfo(self.daily_report_zone))

    @field_validator("worker_roles")
    @classmethod
    def _known_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(value) - set(WORKER_ROLES)
        if unknown or not value:
            raise ValueError(f"worker roles are some of {', '.join(WORKER_ROLES)}; not {', '.join(sorted(unknown))}")
        return tuple(role for role in WORKER_ROLES if role in value)

    @field_validator(
        "high_priority_types",
        "low_priority_types",
        "outbound_allow_list",
        "worker_roles",
        "dashboard_worker_urls",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _kafka_security_fits(self) -> Settings:
        """Refuse, at start-up, Kafka security settings that would be ignored or could not connect."""
        problem = kafka_security_problem(self)
        if problem:
            raise ConfigurationError(f"Kafka security settings: {problem}")
        return self

    def is_set(self, field_name: str) -> bool:
        """Whether the operator chose this value (environment), rather than the default."""
        return field_name in self.model_fields_set

    @property
    def state_path(self) -> Path:
        return self.state_dir.resolve()


def kafka_security_problem(settings: Settings) -> str | None:
    """What is wrong with the combination of ``CRMBUS_KAFKA_SECURITY_PROTOCOL`` and the SASL and TLS
    settings, or None. A setting the protocol would ignore is refused, not dropped: a password or
    certificate meant for a cluster must never be silently sent in clear, or not at all."""
    protocol = settings.kafka_security_protocol
    sasl = protocol.startswith("SASL_")
    tls = protocol.endswith("SSL")
    sasl_fields = {
        "CRMBUS_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "CRMBUS_KAFKA_SASL_USERNAME": settings.kafka_sasl_username,
        "CRMBUS_KAFKA_SASL_PASSWORD": settings.kafka_sasl_password,
    }
    tls_fields = {
        "CRMBUS_KAFKA_SSL_CA_FILE": settings.kafka_ssl_ca_file,
        "CRMBUS_KAFKA_SSL_CERT_FILE": settings.kafka_ssl_cert_file,
        "CRMBUS_KAFKA_SSL_KEY_FILE": settings.kafka_ssl_key_file,
        "CRMBUS_KAFKA_SSL_KEY_PASSWORD": settings.kafka_ssl_key_password,
    }
    if sasl:
        missing = [name for name, value in sasl_fields.items() if not value]
        if missing:
            return f"{protocol} needs {', '.join(missing)}"
    else:
        stray = [name for name, value in sasl_fields.items() if value is not None]
        if stray:
            return f"{', '.join(stray)} set, but {protocol} uses no SASL: set CRMBUS_KAFKA_SECURITY_PROTOCOL=SASL_SSL"
    if not tls:
        stray = [name for name, value in tls_fields.items() if value is not None]
        if stray:
            return f"{', '.join(stray)} set, but {protocol} uses no TLS: choose SSL or SASL_SSL"
        return None
    if (settings.kafka_ssl_cert_file is None) != (settings.kafka_ssl_key_file is None):
        return "CRMBUS_KAFKA_SSL_CERT_FILE and CRMBUS_KAFKA_SSL_KEY_FILE go together: set both or neither"
    if settings.kafka_ssl_key_password is not None and settings.kafka_ssl_key_file is None:
        return "CRMBUS_KAFKA_SSL_KEY_PASSWORD set without CRMBUS_KAFKA_SSL_KEY_FILE"
    for name, value in tls_fields.items():
        if isinstance(value, Path) and not value.is_file():
            return f"{name}={value} is not a readable file"
    return None
