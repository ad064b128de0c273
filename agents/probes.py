"""The proactive checks: a periodic job that probes every enabled destination whose kind has a
health call (``streams.probes``), stores what it found (``infra.db.health_checks``), and the
gauges read back from the store.

The job runs once per tick across every worker (``agents.jobs``); the gauges are set from
PostgreSQL by every process holding the archive role, on a timer, so no process keeps showing a
probe another process has since superseded. Each gauge is per kind, the minimum over the tenants'
destinations of that kind: a tenant label would grow with the customers, and which tenant is down
is in ``health_checks`` and on the console's destinations page, not in Prometheus. A paused
destination is not probed (its operator knows it is away) and its last check is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from agents.jobs import Job
from connectors.destinations.health import has_health_call, probe
from connectors.http import HttpClients
from connectors.ssrf import OutboundPolicy
from infra.core.metrics import DESTINATION_PROBE_UP, WHATSAPP_SESSION_UP
from infra.db.endpoints import Destination
from infra.db.health_checks import Checked, HealthChecks
from streams.errors import ServiceUnreachableError, StoreError
from streams.probes import PROBED_KINDS, WHATSAPP_KINDS, Probe, up_per_kind
from streams.ticks import tick_of

log = logging.getLogger(__name__)

JOB_NAME = "health-probes"
_AT_ONCE = 8
"""Probes in flight at once: enough to check hundreds of destinations well within a tick."""


def _instance(destination: Destination) -> str | None:
    """What a session webhook names the provider's instance by."""
    if destination.kind == "zapi":
        value = destination.config.get("instance_id")
        return value if isinstance(value, str) else None
    if destination.kind == "waha":
        return str(destination.config.get("session") or "default")
    return None


async def probe_destinations(destinations: Sequence[Destination], policy: OutboundPolicy) -> list[Checked]:
    """Probe each destination with a health call, a few at once; the others are skipped."""
    gate = asyncio.Semaphore(_AT_ONCE)

    async def one(destination: Destination, clients: HttpClients) -> Checked:
        async with gate:
            if destination.secret_unreadable:
                found = Probe("down", error_class="SecretUnreadable")
            else:
                found = await probe(
                    destination.kind, url=destination.url, config=destination.config,
                    secret=destination.secret, client=clients, endpoint_id=f"probe:{destination.id}",
                )  # fmt: skip
        return Checked(destination.id, destination.tenant_id, destination.kind, _instance(destination), found)

    probed = [d for d in destinations if has_health_call(d.kind) and not d.paused]
    async with HttpClients(policy, limit_per_host=2) as clients:
        return list(await asyncio.gather(*(one(d, clients) for d in probed)))


async def refresh_gauges(store: HealthChecks) -> None:
    """Set the two gauges from the stored checks; PostgreSQL away leaves them as they were."""
    try:
        rows = await asyncio.to_thread(store.rows)
    except (ServiceUnreachableError, StoreError) as exc:
        log.warning("health gauges not refreshed: %s", type(exc).__name__)
        return
    probes, sessions = up_per_kind(rows)
    for gauge, kinds, up in (
        (DESTINATION_PROBE_UP, PROBED_KINDS, probes),
        (WHATSAPP_SESSION_UP, WHATSAPP_KINDS, sessions),
    ):
        for kind in kinds:
            if kind in up:
                gauge.metric.labels(kind).set(up[kind])
            else:  # nothing of this kind is checked any more: no figure, rather than a stale one
                with contextlib.suppress(KeyError):
                    gauge.metric.remove(kind)


def probe_job(
    load_destinations: Callable[[], Sequence[Destination]],
    store: HealthChecks,
    policy: OutboundPolicy,
    *,
    every_s: float,
) -> Job:
    """The probe job: every ``every_s`` seconds, probe, store, and set this process's gauges."""

    async def run(tick: datetime) -> dict[str, Any]:
        destinations = await asyncio.to_thread(load_destinations)
        checked = await probe_destinations(destinations, policy)
        await asyncio.to_thread(store.record, checked)
        await refresh_gauges(store)
        return {
            "probed": len(checked),
            "down": sum(one.probe.status == "down" for one in checked),
            "sessions_disconnected": sum(one.probe.session == "disconnected" for one in checked),
        }

    return Job(JOB_NAME, partial(tick_of, every_s=every_s), run)
