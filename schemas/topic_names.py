"""Every topic name crmbus reads or writes, with the deployment's prefix: the one place they are
written in code. ``schemas/topics/*.yaml`` says what each topic looks like; a spec checks that
every name here is in that catalogue, so a name cannot drift from the topic that is created.

Public domain topics (``crm.lead.created`` …) are a contract with other systems: their names are
fixed per event type. Internal topics (``crmbus.*``) may change shape between releases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

PUBLIC_TOPICS: Mapping[str, str] = MappingProxyType(
    {
        "lead.created": "crm.lead.created",
        "lead.updated": "crm.lead.updated",
        "client.registered": "crm.client.registered",
        "service.completed": "ops.service.completed",
        "payment.received": "fin.payment.received",
        "whatsapp.message.received": "whatsapp.message.received",
    }
)


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The names of one deployment's topics (``prefix`` isolates environments on one cluster)."""

    prefix: str = ""

    @property
    def high(self) -> str:
        """The lane of critical events (payments, WhatsApp)."""
        return f"{self.prefix}crmbus.events.high"

    @property
    def default(self) -> str:
        """The lane of every event type not sent to another lane."""
        return f"{self.prefix}crmbus.events"

    @property
    def low(self) -> str:
        """The lane of bulk events (sync batches)."""
        return f"{self.prefix}crmbus.events.low"

    @property
    def lanes(self) -> tuple[str, str, str]:
        """The three ingress lanes, highest priority first."""
        return (self.high, self.default, self.low)

    def deliver(self, destination: str) -> str:
        """The topic of one destination kind's deliveries, read by its sink."""
        return f"{self.prefix}crmbus.deliver.{destination}"

    def retry(self, tier: str) -> str:
        """The topic of one retry tier (``5s`` … ``6h``)."""
        return f"{self.prefix}crmbus.retry.{tier}"

    @property
    def scheduled(self) -> str:
        """Actions due later (a route's delay)."""
        return f"{self.prefix}crmbus.scheduled"

    @property
    def deliveries(self) -> str:
        """The outcome of every delivery attempt."""
        return f"{self.prefix}crmbus.deliveries"

    @property
    def dlq(self) -> str:
        """The dead-letter queue."""
        return f"{self.prefix}crmbus.dlq"

    def public(self, event_type: str) -> str | None:
        """The public domain topic events of ``event_type`` are published to, if any."""
        topic = PUBLIC_TOPICS.get(event_type)
        return None if topic is None else self.prefix + topic

    def changelog(self, table: str) -> str:
        """The changelog topic of a worker's table (Faust creates it)."""
        return f"{self.prefix}crmbus-worker-{table}-changelog"
