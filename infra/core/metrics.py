"""Every Prometheus metric crmbus exposes, named in one place.

Labels take bounded values only (route templates, status codes, lanes, reasons): never ids,
phones or anything a client controls.
"""

from __future__ import annotations

import os
from typing import Literal

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
    "invalid_event", "bad_signature", "replayed", "not_found", "kafka_unavailable", "duplicate_header", "forbidden",
]  # fmt: skip

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

INGRESS_REQUESTS = Counter(
    "crmbus_ingress_requests_total", "HTTP requests answered by the ingress.", ["route", "method", "status"]
)
INGRESS_LATENCY = Histogram(
    "crmbus_ingress_request_seconds", "Time to answer, by route.", ["route"], buckets=_LATENCY_BUCKETS
)
INGRESS_ACCEPTED = Counter(
    "crmbus_ingress_events_accepted_total", "Events acknowledged by Kafka and answered 202.", ["lane", "source"]
)
INGRESS_REJECTED = Counter("crmbus_ingress_rejections_total", "Requests or events refused, by reason.", ["reason"])
PRODUCE_LATENCY = Histogram(
    "crmbus_kafka_produce_seconds", "Time from send to Kafka's acknowledgement.", buckets=_LATENCY_BUCKETS
)

ROUTER_EVENTS = Counter(
    "crmbus_router_events_total",
    "Events the router consumed, by lane and what became of them.",
    ["lane", "outcome"],  # routed | duplicate | unrouted | dead_lettered
)
ROUTER_OUTPUTS = Counter(
    "crmbus_router_outputs_total",
    "Records the router wrote, by kind (deliver, scheduled, public, decision, dlq).",
    ["kind"],
)
ROUTER_BATCH = Histogram(
    "crmbus_router_batch_seconds", "Time to route one batch, outputs acknowledged included.", buckets=_LATENCY_BUCKETS
)
DEAD_LETTERS = Counter(
    "crmbus_dead_letters_total", "Records sent to crmbus.dlq, by stage and error class.", ["stage", "error_class"]
)
ROUTES_LOADED = Gauge("crmbus_routes_loaded", "Enabled routes the worker applies.", multiprocess_mode="max")
ROUTES_RELOADS = Counter("crmbus_routes_reloads_total", "Route reloads, by outcome (loaded, failed).", ["outcome"])
SCHEDULED_PENDING = Gauge(
    "crmbus_scheduled_pending", "Delayed actions this worker holds, not yet due.", multiprocess_mode="sum"
)
SCHEDULED_RELEASED = Counter("crmbus_scheduled_released_total", "Delayed actions released to their destination.")
SCHEDULED_LATENESS = Histogram(
    "crmbus_scheduled_lateness_seconds",
    "How long after its due time a delayed action was released.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)

SINK_DELIVERIES = Counter(
    "crmbus_deliveries_total",
    "Delivery attempts and skips, by destination and outcome (delivered, retrying, dead_lettered, duplicate_skipped).",
    ["destination", "outcome"],
)
SINK_ATTEMPT_SECONDS = Histogram(
    "crmbus_delivery_attempt_seconds", "Time a destination took to answer.", ["destination"], buckets=_LATENCY_BUCKETS
)
SINK_PARKED = Counter(
    "crmbus_deliveries_parked_total",
    "Deliveries parked in a retry tier because their circuit was open.",
    ["destination"],
)
CIRCUITS_OPEN = Gauge(
    "crmbus_circuits_open", "Circuits (tenant, destination) open or half-open on this worker.", ["destination"],
    multiprocess_mode="sum",
)  # fmt: skip
DLQ_DEPTH = Gauge(
    "crmbus_dlq_open_records", "DLQ records archived and not yet replayed or discarded.", multiprocess_mode="max"
)
RETRIES_RELEASED = Counter(
    "crmbus_retries_released_total", "Deliveries sent back to their destination from a retry tier.", ["tier"]
)
STALLS_UNBLOCKED = Counter(
    "crmbus_worker_stalls_unblocked_total",
    "Partitions sought back because records fetched by Faust never reached their agent.",
    ["topic"],
)

JOB_RUNS = Counter(
    "crmbus_job_runs_total", "Periodic jobs' runs, by job and outcome (succeeded, failed).", ["job", "outcome"]
)
JOB_RUN_SECONDS = Histogram(
    "crmbus_job_run_seconds", "How long a periodic job's run took.", ["job"],
    buckets=(0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 1800.0),
)  # fmt: skip
JOB_LAST_SUCCESS = Gauge(
    "crmbus_job_last_success_timestamp_seconds", "When a periodic job last succeeded (Unix time).", ["job"],
    multiprocess_mode="max",
)  # fmt: skip
JOB_CONSECUTIVE_FAILURES = Gauge(
    "crmbus_job_consecutive_failures", "A periodic job's failed runs since its last success.", ["job"],
    multiprocess_mode="max",
)  # fmt: skip

DESTINATION_PROBE_UP = Gauge(
    "crmbus_destination_probe_up",
    "1 when every probed destination of this kind answered its health call, 0 when one did not "
    "(the minimum over tenants; kinds with a health call only: zapi, waha).",
    ["destination"],
    multiprocess_mode="min",
)
WHATSAPP_SESSION_UP = Gauge(
    "crmbus_whatsapp_session_up",
    "1 when every WhatsApp session of this provider is connected, 0 when one is not (the minimum over tenants).",
    ["provider"],
    multiprocess_mode="min",
)


def reject(reason: RejectionReason, count: int = 1) -> None:
    INGRESS_REJECTED.labels(reason=reason).inc(count)


def exposition() -> tuple[bytes, str]:
    """The metrics page; across every ingress process when they share a multiprocess directory."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
