"""Integration classes and their delivery SLAs: how soon after the ingress accepted an event its
delivery must have happened.

Each destination kind belongs to at most one class; a kind in none (a tenant's Kafka topic, say)
has no SLA and is not counted. The thresholds come from settings (``CRMBUS_SLA_*_S``); the
defaults are the operators' promises: task automation within 5 s, WhatsApp within 10 s,
notifications within 30 s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

SlaClass = Literal["task_automation", "whatsapp", "notifications"]

CLASS_OF_KIND: Mapping[str, SlaClass] = {
    "crm": "task_automation",
    "financeiro": "task_automation",
    "webhook": "task_automation",
    "rest": "task_automation",
    "zapi": "whatsapp",
    "waha": "whatsapp",
    "email": "notifications",
    "marketing": "notifications",
    "sms_twilio": "notifications",
    "sms_zenvia": "notifications",
}


@dataclass(frozen=True, slots=True)
class SlaThresholds:
    """Seconds from acceptance to delivery, per class."""

    task_automation_s: float = 5.0
    whatsapp_s: float = 10.0
    notifications_s: float = 30.0

    def __post_init__(self) -> None:
        if min(self.task_automation_s, self.whatsapp_s, self.notifications_s) <= 0:
            raise ValueError("SLA thresholds must be positive")

    def of(self, sla_class: SlaClass) -> float:
        return {
            "task_automation": self.task_automation_s,
            "whatsapp": self.whatsapp_s,
            "notifications": self.notifications_s,
        }[sla_class]


@dataclass(frozen=True, slots=True)
class SlaVerdict:
    sla_class: SlaClass
    met: bool


def sla_verdict(kind: str, accepted_to_delivered_s: float, thresholds: SlaThresholds) -> SlaVerdict | None:
    """Whether a delivery to destination ``kind`` met its class's SLA; None when the kind has no class."""
    sla_class = CLASS_OF_KIND.get(kind)
    if sla_class is None:
        return None
    return SlaVerdict(sla_class, accepted_to_delivered_s <= thresholds.of(sla_class))


def event_type_label(name: str, built_in: frozenset[str]) -> str:
    """A metric label for event type ``name``: built-in types by name, tenants' own as ``custom``
    (tenants name their types freely, and a label's values must stay few)."""
    return name if name in built_in else "custom"
