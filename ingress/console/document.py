"""The overview: every reading of the dashboard as one JSON document, the figures rounded and
judged. The HTML page is rendered from this same document, so the two never disagree.

Pure: the readings come in as values (``gather`` fetches them). A source that did not answer is
an ``Unavailable`` reading and shows as ``{"status": "unreachable", "error": <class>}``, or with
status ``failing`` when it answered with an error (a database not migrated, say).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from streams.bus_health import Breach, DeadLetterGroup, GroupLag, WorkerReading, attention
from streams.delivery_sla import DeliveryFigures, DeliverySla, judge

WINDOWS: Mapping[str, timedelta] = {"15m": timedelta(minutes=15), "24h": timedelta(hours=24)}
JUDGED_WINDOW = "15m"
"""The window whose SLA breaches need attention now; the day's are shown for context."""


@dataclass(frozen=True, slots=True)
class Unavailable:
    status: Literal["unreachable", "failing"]
    error: str
    """The failure's class name: never its message, which may quote a query or an address."""


Figures = Mapping[tuple[str, str], DeliveryFigures]


@dataclass(frozen=True, slots=True)
class Window:
    """The figures of each (tenant, destination) with attempts in the window that ended at ``as_of``."""

    as_of: datetime
    figures: Figures


@dataclass(frozen=True, slots=True)
class Readings:
    now: datetime
    sla: DeliverySla
    deliveries: Mapping[str, Window] | Unavailable
    """Per name of ``WINDOWS``; a long window may be read less often than the page, hence ``as_of``."""
    dead_letters: Sequence[DeadLetterGroup] | Unavailable
    workers: Sequence[WorkerReading]
    lag: Sequence[GroupLag] | Unavailable


def seen_by(readings: Readings, tenant_id: str | None) -> Readings:
    """The readings a key acting for ``tenant_id`` may see (None: a platform key, all of them): its
    own deliveries and DLQ records; the workers and consumer lag are the bus's, shared by all."""
    if tenant_id is None:
        return readings
    deliveries = readings.deliveries
    if not isinstance(deliveries, Unavailable):
        deliveries = {
            name: Window(window.as_of, {key: f for key, f in window.figures.items() if key[0] == tenant_id})
            for name, window in deliveries.items()
        }
    dead_letters = readings.dead_letters
    if not isinstance(dead_letters, Unavailable):
        dead_letters = [group for group in dead_letters if group.tenant_id == tenant_id]
    return replace(readings, deliveries=deliveries, dead_letters=dead_letters)


def overview(readings: Readings) -> dict[str, Any]:
    deliveries, breaches = _deliveries(readings.deliveries, readings.sla)
    dead_letters = _dead_letters(readings.dead_letters, readings.now)
    sources = {"PostgreSQL": (readings.deliveries, readings.dead_letters), "Kafka": (readings.lag,)}
    unavailable = {
        name: next(r.status for r in read if isinstance(r, Unavailable))
        for name, read in sources.items()
        if any(isinstance(r, Unavailable) for r in read)
    }
    notes = attention(
        unavailable=unavailable,
        workers={worker.address: worker.state for worker in readings.workers},
        groups=[] if isinstance(readings.lag, Unavailable) else readings.lag,
        open_dead_letters=dead_letters.get("open_records", 0),
        breaches=breaches,
    )
    return {
        "generated_at": readings.now.isoformat(),
        "healthy": not notes,
        "attention": notes,
        "sla": {"p95_ms": readings.sla.p95_ms, "success_rate": readings.sla.success_rate, "window": JUDGED_WINDOW},
        "deliveries": deliveries,
        "dead_letters": dead_letters,
        "workers": [_worker(worker) for worker in readings.workers],
        "consumer_lag": _lag(readings.lag),
    }


def _unavailable(reading: Unavailable) -> dict[str, Any]:
    return {"status": reading.status, "error": reading.error}


def _deliveries(reading: Mapping[str, Window] | Unavailable, sla: DeliverySla) -> tuple[dict[str, Any], list[Breach]]:
    if isinstance(reading, Unavailable):
        return _unavailable(reading), []
    keys = sorted({key for window in reading.values() for key in window.figures})
    rows, breaches = [], []
    for tenant, destination in keys:
        windows = {}
        for window in WINDOWS:
            figures = reading[window].figures.get((tenant, destination), DeliveryFigures())
            judgement = judge(figures, sla)
            windows[window] = _figures(figures) | {"sla": judgement.verdict, "sla_reasons": list(judgement.reasons)}
            if window == JUDGED_WINDOW and judgement.verdict == "breached":
                breaches.append(Breach(tenant, destination, judgement.reasons))
        rows.append({"tenant_id": tenant, "destination": destination, "windows": windows})
    as_of = {window: reading[window].as_of.isoformat() for window in WINDOWS}
    return {"status": "ok", "windows": list(WINDOWS), "as_of": as_of, "rows": rows}, breaches


def _figures(figures: DeliveryFigures) -> dict[str, Any]:
    rate = figures.success_rate
    return {
        "attempts": figures.attempts,
        "delivered": figures.delivered,
        "retrying": figures.retrying,
        "dead_lettered": figures.dead_lettered,
        "success_rate": None if rate is None else round(rate, 4),
        "p50_ms": _ms(figures.p50_ms),
        "p95_ms": _ms(figures.p95_ms),
        "last_error_class": figures.last_error_class,
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _dead_letters(reading: Sequence[DeadLetterGroup] | Unavailable, now: datetime) -> dict[str, Any]:
    if isinstance(reading, Unavailable):
        return _unavailable(reading)
    groups = [
        {
            "tenant_id": group.tenant_id,
            "destination": group.destination,
            "error_class": group.error_class,
            "open_records": group.open_records,
            "oldest_failed_at": group.oldest_failed_at.isoformat(),
            "oldest_age_s": round(group.age_s(now)),
            "replay": group.replay_command(),
        }
        for group in reading
    ]
    return {"status": "ok", "open_records": sum(group.open_records for group in reading), "groups": groups}


def _worker(worker: WorkerReading) -> dict[str, Any]:
    metrics = worker.metrics
    return {
        "address": worker.address,
        "state": worker.state,
        "error": worker.error,
        "circuits_open": None if metrics is None else dict(metrics.circuits_open),
        "stalls_unblocked": None if metrics is None else metrics.stalls_unblocked,
        "scheduled_pending": None if metrics is None else metrics.scheduled_pending,
        "routes_loaded": None if metrics is None else metrics.routes_loaded,
    }


def _lag(reading: Sequence[GroupLag] | Unavailable) -> dict[str, Any]:
    if isinstance(reading, Unavailable):
        return _unavailable(reading)
    groups = [
        {"group": group.group, "state": group.state, "lag": group.total, "by_topic": group.by_topic()}
        for group in reading
    ]
    return {"status": "ok", "groups": groups}
