"""A metric's children kept by label values: the same counts as ``labels``, in bounded memory."""

from __future__ import annotations

from functools import partial

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge

from infra.core import metrics
from infra.core.metrics import DeferredCounter, DeferredGauge

pytestmark = pytest.mark.unit


def _counter(registry: CollectorRegistry) -> DeferredCounter:
    return DeferredCounter(partial(Counter, "test_requests", "Requests.", ["route", "status"], registry=registry))


def test_a_child_counts_where_labels_counts() -> None:
    registry = CollectorRegistry()
    counter = _counter(registry)
    counter.child("/v1/events", "202").inc()
    counter.labels(route="/v1/events", status="202").inc()
    counter.child("/v1/events", "202").inc(3)
    counter.child("/v1/events", "400").inc()
    assert registry.get_sample_value("test_requests_total", {"route": "/v1/events", "status": "202"}) == 5
    assert registry.get_sample_value("test_requests_total", {"route": "/v1/events", "status": "400"}) == 1


def test_children_past_the_cap_still_count_but_are_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_MAX_KEPT_CHILDREN", 2)
    registry = CollectorRegistry()
    counter = _counter(registry)
    for status in ("200", "202", "400", "400"):
        counter.child("/v1/events", status).inc()
    assert len(counter._children) == 2
    assert registry.get_sample_value("test_requests_total", {"route": "/v1/events", "status": "400"}) == 2


def test_a_cleared_gauge_forgets_its_kept_children() -> None:
    registry = CollectorRegistry()
    gauge = DeferredGauge(partial(Gauge, "test_lag", "Lag.", ["topic"], registry=registry))
    gauge.child("a").set(7)
    gauge.clear()
    assert registry.get_sample_value("test_lag", {"topic": "a"}) is None
    gauge.child("a").set(2)  # a fresh child, registered again, not the dropped one
    assert registry.get_sample_value("test_lag", {"topic": "a"}) == 2
