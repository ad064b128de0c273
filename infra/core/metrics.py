"""Every Prometheus metric crmbus exposes, named in one place.

Labels take bounded values only (route templates, status codes, lanes, reasons): never ids,
phones or anything a client controls.

Each metric is made by the first process that sets it, not when this module is imported: every
process imports this module, and a metric made at import is exposed by every process, at 0 where
the process never sets it (the ingress showed the workers' gauges, the multiprocess ingress
wrote them to its shared files). So a process's ``/metrics`` carries only what it sets.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Generic, Literal, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

RejectionReason = Literal[
    "unauthenticated", "rate_limited", "too_large", "unsupported_media_type", "malformed_json",
    "invalid_event", "invalid_request", "bad_signature", "replayed", "not_found", "kafka_unavailable",
    "duplicate_header", "malformed_header", "forbidden",
]  # fmt: skip

_Made = TypeVar("_Made", Counter, Gauge, Histogram)
_MAKING = threading.Lock()
_Mode = Literal["all", "sum", "max", "min"]
_MAX_KEPT_CHILDREN = 1024


class _Deferred(Generic[_Made]):
    """A metric registered (in the default registry) on first use."""

    def __init__(self, make: Callable[[], _Made]) -> None:
        self._make: Callable[[], _Made] | None = make
        self._made: _Made | None = None
        self._children: dict[tuple[str, ...], _Made] = {}

    @property
    def metric(self) -> _Made:
        if self._made is None:
            with _MAKING:
                if self._made is None and self._make is not None:
                    self._made, self._make = self._make(), None
        assert self._made is not None
        return self._made

    def labels(self, **labels: object) -> _Made:
        return self.metric.labels(**labels)

    def child(self, *values: str) -> _Made:
        """``labels`` by position (the metric's label order), kept once made: ``labels`` takes a lock
        and checks its arguments on every call, which the ingress paid several times per request.
        Label values are bounded; past ``_MAX_KEPT_CHILDREN`` a child is looked up, not kept. A
        kept child stays right until the metric drops its children (``DeferredGauge.clear``)."""
        found = self._children.get(values)
        if found is None:
            found = self.metric.labels(*values)
            if len(self._children) < _MAX_KEPT_CHILDREN:
                self._children[values] = found
        return found


class DeferredCounter(_Deferred[Counter]):
    def inc(self, amount: float = 1) -> None:
        self.metric.inc(amount)


class DeferredGauge(_Deferred[Gauge]):
    def set(self, value: float) -> None:
        self.metric.set(value)

    def clear(self) -> None:
        self._children.clear()
        self.metric.clear()


class DeferredHistogram(_Deferred[Histogram]):
    def observe(self, amount: float) -> None:
        self.metric.observe(amount)


def _counter(name: str, documentation: str, labels: Sequence[str] = ()) -> DeferredCounter:
    return DeferredCounter(partial(Counter, name, documentation, labels))


def _gauge(name: str, documentation: str, labels: Sequence[str] = (), *, mode: _Mode = "all") -> DeferredGauge:
    return DeferredGauge(partial(Gauge, name, documentation, labels, multiprocess_mode=mode))


def _histogram(
    name: str, documentation: str, labels: Sequence[str] = (), *, buckets: Sequence[float]
) -> DeferredHistogram:
    return DeferredHistogram(partial(Histogram, name, documentation, labels, buckets=buckets))


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

INGRESS_REQUESTS = _counter(
    "crmbus_ingress_requests_total", "HTTP requests answered by the ingress.", ["route", "method", "status"]
)
INGRESS_LATENCY = _histogram(
    "crmbus_ingress_request_seconds", "Time to answer, by route.", ["route"], buckets=_LATENCY_BUCKETS
)
INGRESS_ACCEPTED = _counter(
    "crmbus_ingress_events_accepted_total", "Events acknowledged by Kafka and answered 202.", ["lane", "source"]
)
INGRESS_REJECTED = _counter("crmbus_ingress_rejections_total", "Requests or events refused, by reason.", ["reason"])
PRODUCE_LATENCY = _histogram(
    "crmbus_kafka_produce_seconds", "Time from send to Kafka's acknowledgement.", buckets=_LATENCY_BUCKETS
)

ROUTER_EVENTS = _counter(
    "crmbus_router_events_total",
    "Events the router consumed, by lane and what became of them.",
    ["lane", "outcome"],  # routed | duplicate | unrouted | dead_lettered
)
ROUTER_OUTPUTS = _counter(
    "crmbus_router_outputs_total",
    "Records the router wrote, by kind (deliver, scheduled, public, decision, dlq).",
    ["kind"],
)
ROUTER_BATCH = _histogram(
    "crmbus_router_batch_seconds", "Time to route one batch, outputs acknowledged included.", buckets=_LATENCY_BUCKETS
)
LANE_WAIT = _histogram(
    "crmbus_lane_wait_seconds",
    "From the ingress's acceptance of an event to the router taking it from its lane.",
    ["lane"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
DEAD_LETTERS = _counter(
    "crmbus_dead_letters_total", "Records sent to crmbus.dlq, by stage and error class.", ["stage", "error_class"]
)
ROUTES_LOADED = _gauge("crmbus_routes_loaded", "Enabled routes the worker applies.", mode="max")
ROUTES_RELOADS = _counter("crmbus_routes_reloads_total", "Route reloads, by outcome (loaded, failed).", ["outcome"])
SCHEDULED_PENDING = _gauge("crmbus_scheduled_pending", "Delayed actions this worker holds, not yet due.", mode="sum")
SCHEDULED_RELEASED = _counter("crmbus_scheduled_released_total", "Delayed actions released to their destination.")
SCHEDULED_LATENESS = _histogram(
    "crmbus_scheduled_lateness_seconds",
    "How long after its due time a delayed action was released.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)

SINK_DELIVERIES = _counter(
    "crmbus_deliveries_total",
    "Delivery attempts and skips, by destination and outcome (delivered, retrying, dead_lettered, duplicate_skipped).",
    ["destination", "outcome"],
)
SINK_ATTEMPT_SECONDS = _histogram(
    "crmbus_delivery_attempt_seconds", "Time a destination took to answer.", ["destination"], buckets=_LATENCY_BUCKETS
)
SINK_PARKED = _counter(
    "crmbus_deliveries_parked_total",
    "Deliveries parked in a retry tier because their circuit was open.",
    ["destination"],
)
CIRCUITS_OPEN = _gauge(
    "crmbus_circuits_open", "Circuits (tenant, destination) open or half-open on this worker.", ["destination"],
    mode="sum",
)  # fmt: skip
DLQ_DEPTH = _gauge("crmbus_dlq_open_records", "DLQ records archived and not yet replayed or discarded.", mode="max")
ACCEPT_TO_DELIVERED = _histogram(
    "crmbus_delivery_accept_to_delivered_seconds",
    "From the ingress's acceptance of an event (a delayed action: its due time) to its delivery, by event "
    "type (a tenant's own types as 'custom') and destination kind.",
    ["event_type", "destination"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0),
)
SLA_DELIVERIES = _counter(
    "crmbus_sla_deliveries_total",
    "Deliveries of an integration class (task_automation, whatsapp, notifications), by whether their "
    "accept-to-delivered time met the class's SLA (met: true, false).",
    ["class", "met"],
)
RETRIES_RELEASED = _counter(
    "crmbus_retries_released_total", "Deliveries sent back to their destination from a retry tier.", ["tier"]
)
STALLS_UNBLOCKED = _counter(
    "crmbus_worker_stalls_unblocked_total",
    "Partitions sought back because records fetched by Faust never reached their agent.",
    ["topic"],
)

JOB_RUNS = _counter(
    "crmbus_job_runs_total", "Periodic jobs' runs, by job and outcome (succeeded, failed).", ["job", "outcome"]
)
JOB_RUN_SECONDS = _histogram(
    "crmbus_job_run_seconds", "How long a periodic job's run took.", ["job"],
    buckets=(0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 1800.0),
)  # fmt: skip
JOB_LAST_SUCCESS = _gauge(
    "crmbus_job_last_success_timestamp_seconds", "When a periodic job last succeeded (Unix time).", ["job"],
    mode="max",
)  # fmt: skip
JOB_CONSECUTIVE_FAILURES = _gauge(
    "crmbus_job_consecutive_failures", "A periodic job's failed runs since its last success.", ["job"],
    mode="max",
)  # fmt: skip
SYNC_RECORDS = _counter(
    "crmbus_sync_records_total",
    "Records sync jobs pulled and produced as deliveries, by job (sync:<default job name> or sync:other).",
    ["job"],
)

CONSUMER_LAG = _gauge(
    "crmbus_consumer_lag",
    "Records a consumer group has yet to read, by group and topic, as Kafka said at the last scrape.",
    ["group", "topic"],
)
DESTINATION_PROBE_UP = _gauge(
    "crmbus_destination_probe_up",
    "1 when every probed destination of this kind answered its health call, 0 when one did not "
    "(the minimum over tenants; kinds with a health call only: zapi, waha).",
    ["destination"],
    mode="min",
)
WHATSAPP_SESSION_UP = _gauge(
    "crmbus_whatsapp_session_up",
    "1 when every WhatsApp session of this provider is connected, 0 when one is not (the minimum over tenants).",
    ["provider"],
    mode="min",
)


def reject(reason: RejectionReason, count: int = 1) -> None:
    INGRESS_REJECTED.child(reason).inc(count)


def exposition() -> tuple[bytes, str]:
    """The metrics page; across every ingress process when they share a multiprocess directory."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


OUTBOX_RELAYED = _counter(
    "crmbus_outbox_relayed_total", "Outbox rows the relay published (Kafka transaction committed) and deleted."
)
OUTBOX_LAG = _gauge(
    "crmbus_outbox_relay_lag_seconds", "Age of the oldest outbox row not yet relayed, at the relay's last look.",
    mode="max",
)  # fmt: skip
