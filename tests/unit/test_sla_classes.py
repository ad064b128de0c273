from __future__ import annotations

import pytest

from streams.routes import DESTINATIONS
from streams.sla_classes import CLASS_OF_KIND, SlaThresholds, SlaVerdict, event_type_label, sla_verdict

pytestmark = pytest.mark.unit


def test_every_destination_kind_belongs_to_a_class() -> None:
    assert set(CLASS_OF_KIND) == set(DESTINATIONS)


@pytest.mark.parametrize(
    ("kind", "seconds", "verdict"),
    [
        ("crm", 5.0, SlaVerdict("task_automation", True)),
        ("webhook", 5.01, SlaVerdict("task_automation", False)),
        ("zapi", 9.9, SlaVerdict("whatsapp", True)),
        ("waha", 10.5, SlaVerdict("whatsapp", False)),
        ("email", 29.0, SlaVerdict("notifications", True)),
        ("marketing", 31.0, SlaVerdict("notifications", False)),
    ],
)
def test_default_thresholds_are_the_operators_promises(kind: str, seconds: float, verdict: SlaVerdict) -> None:
    assert sla_verdict(kind, seconds, SlaThresholds()) == verdict


def test_a_kind_without_a_class_is_not_judged() -> None:
    assert sla_verdict("kafka_topic", 1.0, SlaThresholds()) is None


def test_thresholds_are_configurable_and_positive() -> None:
    assert sla_verdict("crm", 2.0, SlaThresholds(task_automation_s=1.0)) == SlaVerdict("task_automation", False)
    with pytest.raises(ValueError, match="positive"):
        SlaThresholds(whatsapp_s=0)


def test_tenants_own_types_share_one_label() -> None:
    built_in = frozenset({"lead.created"})
    assert event_type_label("lead.created", built_in) == "lead.created"
    assert event_type_label("acme.pedido.criado", built_in) == "custom"
