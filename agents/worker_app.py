"""The Faust app of one worker process, configured from ``Settings``: its consumer group, broker,
fetches, batches and web port (``agents.app`` adds its tables, agents, timers and pages)."""

from __future__ import annotations

import hashlib
import logging
import socket

from agents.broker_auth import broker_credentials
from agents.runtime.consumer import FetchBatching, WorkerApp
from infra.core.settings import WORKER_ROLES, Settings
from schemas.catalogue import load_catalogue
from schemas.topic_names import TopicNames

_QUIET_LOGGERS = ("faust", "aiokafka", "mode", "kafka")
_HOT_ROLES = frozenset({"router", "sinks"})  # on every event's way


def fetch_batching(settings: Settings) -> FetchBatching:
    """How a worker's consumer fetches: within ``CRMBUS_WORKER_FETCH_MAX_WAIT_MS`` when it runs a
    role on every event's way; a process running only background roles (retry tiers, scheduler,
    archive) lets the broker gather for as long as its agents fill batches, a fraction of the
    fetches, on both sides."""
    wait_ms = settings.worker_fetch_max_wait_ms
    if not _HOT_ROLES.intersection(settings.worker_roles):
        wait_ms = max(wait_ms, round(settings.worker_background_batch_wait_s * 1000))
    return FetchBatching(settings.worker_fetch_min_bytes, wait_ms, settings.worker_idle_fetch_wait_ms)


def instance_id(settings: Settings, index: int) -> str | None:
    """Process ``index``'s ``group.instance.id``: ``CRMBUS_WORKER_INSTANCE_ID``, else this host and a
    digest of the state directory and web port (two ``crmbus worker`` on one host differ in both),
    then ``-index``. Two live members with one id would fence each other out of the group."""
    if not settings.worker_static_membership:
        return None
    base = settings.worker_instance_id
    if not base:
        where = f"{settings.state_path.resolve()}:{settings.worker_web_port}".encode()
        base = f"{socket.gethostname()}-{hashlib.sha256(where).hexdigest()[:10]}"
    return f"{base}-{index}"


def worker_app(settings: Settings, index: int) -> WorkerApp:
    """The app of process ``index`` (its web port is ``worker_web_port + index``), without agents."""
    for name in _QUIET_LOGGERS:  # they build DEBUG records per send even when nobody reads them
        logging.getLogger(name).setLevel(logging.WARNING)
    prefix = settings.topic_prefix
    datadir = settings.state_path / "faust" / f"{prefix}worker-{index}"
    datadir.parent.mkdir(parents=True, exist_ok=True)
    # What Faust creates (the tables' changelogs) has the lanes' partitions (unprefixed in the catalogue).
    partitions = load_catalogue()[TopicNames().default].partitions
    roles = settings.worker_roles
    # One consumer group per set of roles: a process running only sinks must not take lanes.
    group = "" if roles == WORKER_ROLES else "-" + "-".join(roles)
    return WorkerApp(
        f"{prefix}crmbus-worker{group}",
        fetch_batching=fetch_batching(settings),
        broker=[f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",")],
        broker_credentials=broker_credentials(settings),
        store="memory://",
        autodiscover=False,
        topic_partitions=partitions,
        topic_replication_factor=settings.kafka_replication_factor,
        table_standby_replicas=0,
        web_enabled=True,
        web_bind=settings.worker_web_host,
        web_host="127.0.0.1",
        web_port=settings.worker_web_port + index,
        datadir=str(datadir),
        broker_max_poll_records=settings.worker_batch_max,
        stream_buffer_maxsize=settings.worker_batch_max * 4,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        consumer_group_instance_id=instance_id(settings, index),
        broker_session_timeout=settings.worker_session_timeout_s,
        key_serializer="raw",
        value_serializer="raw",
        worker_redirect_stdouts=False,
    )
