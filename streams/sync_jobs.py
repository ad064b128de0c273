"""Sync jobs' pure decisions: when a job is due, and the ids that make a re-sent page harmless.

A sync job pulls a tenant's records from one system (a REST list endpoint, page by page) and
delivers each to a destination, as a routed event's delivery. Its schedule is either a cron
expression (five fields, UTC) or a fixed interval in seconds::

    {"cron": "0 6 * * *"}      every day at 06:00 UTC
    {"every_s": 3600}          every hour, on the hour (intervals count from the Unix epoch)

A schedule's *tick* is the latest moment it fires that is not after now: every worker computes
the same tick for the same moment, so a claim on (job, tick) in PostgreSQL runs each tick once
(``agents.jobs``, ``infra.db.job_runs``). A job enabled between two ticks runs for the latest one
at once: enabling a job means "sync now, then on schedule".

Every record delivered gets an event id derived from (tenant, job, record id, record version):
a page sent again after a crash carries the same ids, so the sink's idempotency (by delivery id,
``streams.routes.delivery_id``) skips what already went out; a record changed since gets a new
version and is delivered again, as it should be.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from streams.errors import ConfigurationError
from streams.pagination import PullSpec
from streams.ticks import tick_of

_RECORD_NAMESPACE = uuid.UUID("6f1d3c52-4a8e-5c1b-9d7e-2b0a51c7e9a4")
MIN_INTERVAL_S = 10
SYNC_EVENT_TYPE = "crmbus.sync.record"
"""The event type of a synced record's delivery: one constant, so no tenant-chosen name becomes
a metric label downstream."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a sync job runs: ``cron`` (UTC) or every ``every_s`` seconds."""

    cron: str | None = None
    every_s: int | None = None

    @classmethod
    def from_config(cls, given: Any) -> Schedule:
        """``{"cron": "<5 fields>"}`` or ``{"every_s": <seconds >= 60>}``; ConfigurationError names what is wrong."""
        if not isinstance(given, Mapping) or len(given) != 1:
            raise ConfigurationError("schedule must be an object with exactly one of cron, every_s", field="schedule")
        if "cron" in given:
            expression = given["cron"]
            if not isinstance(expression, str) or len(expression.split()) != 5 or not croniter.is_valid(expression):
                raise ConfigurationError(
                    "schedule.cron must be a cron expression of five fields", field="schedule.cron"
                )
            return cls(cron=expression)
        if "every_s" in given:
            every = given["every_s"]
            if isinstance(every, bool) or not isinstance(every, int) or every < MIN_INTERVAL_S:
                raise ConfigurationError(
                    f"schedule.every_s must be a whole number of seconds >= {MIN_INTERVAL_S}", field="schedule.every_s"
                )
            return cls(every_s=every)
        raise ConfigurationError("schedule must be an object with exactly one of cron, every_s", field="schedule")

    def to_config(self) -> dict[str, Any]:
        return {"cron": self.cron} if self.cron is not None else {"every_s": self.every_s}

    def tick(self, now: datetime) -> datetime:
        """The latest moment the schedule fires that is not after ``now`` (UTC)."""
        if self.every_s is not None:
            return tick_of(now, self.every_s)
        moment = now.astimezone(UTC)
        if croniter.match(self.cron, moment.replace(second=0, microsecond=0)):
            return moment.replace(second=0, microsecond=0)
        previous: datetime = croniter(self.cron, moment).get_prev(datetime)
        return previous.astimezone(UTC)

    def next_run(self, now: datetime) -> datetime:
        """The first moment after ``now`` the schedule fires (UTC)."""
        if self.every_s is not None:
            return datetime.fromtimestamp(tick_of(now, self.every_s).timestamp() + self.every_s, UTC)
        following: datetime = croniter(self.cron, now.astimezone(UTC)).get_next(datetime)
        return following.astimezone(UTC)


DEFAULT_SYNC_JOBS: Mapping[str, Mapping[str, Any]] = {
    # Operação's completed services -> Financeiro invoices, daily at 06:00 UTC (03:00 in São Paulo).
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
    # Agenda's appointments -> Operação, hourly.
    "agenda-operacao": {
        "source": {
            "endpoint": "agenda", "path": "/v1/appointments", "records_at": "items",
            "pagination": {"style": "cursor", "param": "cursor", "next": "next_cursor"},
            "changes": {"style": "updated_since"},
        },
        "destination": {"endpoint": "operacao", "action": "rest.upsert_appointment", "mapping": {}},
        "schedule": {"cron": "0 * * * *"},
    },
    # Cuidadores' caregivers -> the CRM, every 4 hours.
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
"""The sync jobs every new tenant starts with, disabled: enabling one needs its source and
destination endpoints (``operacao``, ``agenda``, ``cuidadores``, ``financeiro``, ``crm``)."""


def claim_name(job_id: uuid.UUID | str) -> str:
    """The name a sync job's runs are claimed under in ``job_runs``: its id, never its tenant's words."""
    return f"sync:{job_id}"


def sync_route_id(job_id: uuid.UUID | str, endpoint_id: uuid.UUID | str) -> str:
    """The route id a sync job's deliveries carry: the job's, and the destination endpoint the
    sink must send them to (a tenant may have several endpoints of one kind, as it has several
    ``rest`` systems), since no route in the route book names it."""
    return f"{claim_name(job_id)}@{endpoint_id}"


def synced_endpoint(route_id: str) -> str | None:
    """The destination endpoint id a ``sync_route_id`` names; None for any other route id."""
    name, at, endpoint_id = route_id.partition("@")
    return endpoint_id if at and name.startswith("sync:") and endpoint_id else None


def record_event_id(tenant_id: str, job_id: uuid.UUID | str, record_id: str, version: str) -> uuid.UUID:
    """The event id of one version of one pulled record: the same on every run that pulls it again."""
    return uuid.uuid5(_RECORD_NAMESPACE, f"{tenant_id}/{job_id}/{record_id}/{version}")


def record_identity(record: Mapping[str, Any], id_field: str) -> tuple[str, str]:
    """A pulled record's id and version (``updated_at``, else ``version``); ConfigurationError
    when it has no id: without one a re-sent page could not be recognised."""
    found = record.get(id_field)
    if found is None or isinstance(found, (dict, list)):
        raise ConfigurationError(f"a pulled record has no {id_field!r} to identify it by")
    version = record.get("updated_at", record.get("version"))
    return str(found), "" if version is None else str(version)


def pull_spec(source: Mapping[str, Any]) -> PullSpec:
    """The pull a job's ``source`` describes (all but its ``endpoint``); ConfigurationError if wrong."""
    return PullSpec.from_config({key: value for key, value in source.items() if key != "endpoint"})
