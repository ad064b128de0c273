from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from agents.sink_timing import DeliveryTiming
from streams.sla_classes import SlaThresholds

pytestmark = pytest.mark.unit

READY = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_delivery_is_timed_from_ready_at_and_judged_by_its_class() -> None:
    timing = DeliveryTiming("zapi", SlaThresholds(), frozenset({"lead.created"}))
    met = _sample("crmbus_sla_deliveries_total", **{"class": "whatsapp", "met": "true"})
    missed = _sample("crmbus_sla_deliveries_total", **{"class": "whatsapp", "met": "false"})
    slow = _sample(
        "crmbus_delivery_accept_to_delivered_seconds_bucket", event_type="custom", destination="waha", le="10.0"
    )

    timing.delivered({"ready_at": READY, "event_type": "lead.created"}, "zapi", READY.timestamp() + 3)
    timing.delivered({"ready_at": READY, "event_type": "acme.pedido"}, "waha", READY.timestamp() + 12)

    assert _sample("crmbus_sla_deliveries_total", **{"class": "whatsapp", "met": "true"}) == met + 1
    assert _sample("crmbus_sla_deliveries_total", **{"class": "whatsapp", "met": "false"}) == missed + 1
    assert (
        _sample(
            "crmbus_delivery_accept_to_delivered_seconds_bucket", event_type="custom", destination="waha", le="10.0"
        )
        == slow
    )  # 12 s is beyond the 10 s bucket
    assert (
        _sample("crmbus_delivery_accept_to_delivered_seconds_sum", event_type="lead.created", destination="zapi") >= 3
    )


def test_a_record_written_before_ready_at_existed_is_not_timed() -> None:
    timing = DeliveryTiming("email", SlaThresholds(), frozenset())
    before = _sample("crmbus_sla_deliveries_total", **{"class": "notifications", "met": "true"})
    timing.delivered({"ready_at": None, "event_type": "x.y"}, "email", READY.timestamp())
    assert _sample("crmbus_sla_deliveries_total", **{"class": "notifications", "met": "true"}) == before
