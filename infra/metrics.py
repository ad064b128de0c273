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
    Histogram,
    generate_latest,
    multiprocess,
)

RejectionReason = Literal[
    "unauthenticated", "rate_limited", "too_large", "unsupported_media_type", "malformed_json",
    "invalid_event", "bad_signature", "replayed", "not_found", "kafka_unavailable",
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


def reject(reason: RejectionReason, count: int = 1) -> None:
    INGRESS_REJECTED.labels(reason=reason).inc(count)


def exposition() -> tuple[bytes, str]:
    """The metrics page; across every ingress process when they share a multiprocess directory."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
