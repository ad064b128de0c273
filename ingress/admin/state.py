"""What the admin API uses beyond itself, opened by the composition root (``infra.cli.wiring``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from infra.control.event_replay import EventReplayer
from infra.control.replay import Replayer
from infra.control.replays import Replays
from infra.control.subject_rights import SubjectRights
from infra.core.settings import Settings
from infra.db.admin_requests import AdminRequests
from infra.db.api_keys import ApiKeys, Principal
from infra.db.dead_letters import DeadLetters
from infra.db.delivery_log import DeliveryLog
from infra.db.endpoints import Endpoints
from infra.db.event_archive import EventArchive
from infra.db.event_types import EventTypes
from infra.db.inbound_sources import InboundSources
from infra.db.job_runs import JobRuns
from infra.db.routes import Routes
from infra.db.sync_jobs import SyncJobs
from infra.db.tenants import Tenants
from ingress.admin.background import BackgroundRuns, RunClaimed
from ingress.http.credentials import CachedLookup
from ingress.http.limits import RequestLimits


@dataclass(frozen=True, slots=True)
class Repositories:
    """The repositories of one request, writing the audit log as its caller (``key:<id>``)."""

    tenants: Tenants
    api_keys: ApiKeys
    sources: InboundSources
    destinations: Endpoints
    routes: Routes
    event_types: EventTypes
    dead_letters: DeadLetters
    deliveries: DeliveryLog
    events: EventArchive
    subjects: SubjectRights
    sync_jobs: SyncJobs


@dataclass(frozen=True, slots=True)
class AdminResources:
    """Opened by the composition root. Every call blocks (handlers run them in a thread) and
    raises ``ServiceUnreachableError`` when PostgreSQL does not answer."""

    principal: Callable[[str], Principal | None]
    """Who presents this API key, or None."""
    repositories: Callable[[str], Repositories]
    """The repositories acting as this audit actor."""
    requests: AdminRequests
    """The idempotency store."""
    replayer: Callable[[str], Replayer]
    """The DLQ replay engine acting as this audit actor (one producer, opened with the resources)."""
    event_replayer: Callable[[str], EventReplayer]
    """The time-range replay engine acting as this audit actor (the same producer)."""
    decode: Callable[[bytes | None], dict[str, Any]]
    """A dead letter's bytes as their writer schema reads them; ``DecodeError`` when they cannot be."""
    job_runs: JobRuns
    """Periodic jobs' runs, claimed as this process: a sync job's run asked for over the API."""
    run_sync: RunClaimed
    """Run a sync job for the tick this process claimed (``agents.sync.SyncRunner.run_claimed``)."""


@dataclass(slots=True)
class AdminState:
    settings: Settings
    api_keys: CachedLookup[Principal]
    limits: RequestLimits
    repositories: Callable[[str], Repositories]
    requests: AdminRequests
    replays: Replays
    event_replayer: Callable[[str], EventReplayer]
    decode: Callable[[bytes | None], dict[str, Any]]
    job_runs: JobRuns
    sync_runs: BackgroundRuns


STATE = web.AppKey("crmbus_admin_state", AdminState)
