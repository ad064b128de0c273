"""Every topic name crmbus reads or writes, with the deployment's prefix: the one place they are
written in code. ``schemas/topics/*.yaml`` says what each topic looks like; a spec checks that
every name here is in that catalogue, so a name cannot drift from the topic that is created.

Public domain topics (``crm.lead.created`` …) are a contract with other systems: a built-in
type's file names its own (``public_topic``), and ``schemas/public_topics.py`` prefixes it.
Tenants' own types publish to one shared topic, ``custom.events``, or, when the type asks for
one (``typed_topic``), to ``custom.<tenant_id>.<type>``; a type's major version N > 1 publishes
beside v1, to ``<topic>.vN``. Internal topics (``crmbus.*``) may change shape between releases.
"""

from __future__ import annotations

from dataclasses import dataclass

CUSTOM_EVENTS = "custom.events"
OUTBOX_TOPIC_TEMPLATE = "outbox.event.{aggregatetype}"
"""Where the outbox relay routes a row by default: Debezium's outbox event router's default
(``route.topic.replacement`` = ``outbox.event.${routedByValue}``, routed by ``aggregatetype``)."""


def versioned_topic(public_topic: str, version: int) -> str:
    """Where v``version`` of a type publishes: v1 on its public topic, later majors beside it."""
    return public_topic if version == 1 else f"{public_topic}.v{version}"


def custom_topic(tenant_id: str, event_type: str, version: int = 1) -> str:
    """The typed public topic of a tenant's own type that asks for one (without the prefix).

    Tenant ids and type names are lower-case letters, digits, ``_``, ``-`` and dots: a valid
    Kafka name, under 249 characters with any sensible prefix."""
    return versioned_topic(f"custom.{tenant_id}.{event_type}", version)


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

    @property
    def custom_events(self) -> str:
        """The shared public topic of tenants' own types, the generic envelope as value."""
        return self.prefix + CUSTOM_EVENTS

    def custom(self, tenant_id: str, event_type: str, version: int = 1) -> str:
        """The typed public topic of a tenant's own type that asks for one (``typed_topic``)."""
        return self.prefix + custom_topic(tenant_id, event_type, version)

    def changelog(self, table: str) -> str:
        """The changelog topic of a worker's table (Faust creates it)."""
        return f"{self.prefix}crmbus-worker-{table}-changelog"

    def outbox_event(self, aggregatetype: str, template: str = OUTBOX_TOPIC_TEMPLATE) -> str:
        """The topic an outbox row of ``aggregatetype`` is relayed to (``{aggregatetype}`` in
        ``template`` replaced, the prefix put before it)."""
        return self.prefix + template.replace("{aggregatetype}", aggregatetype)

    def outbox_progress(self, relay: str) -> str:
        """One outbox relay's progress topic: the ids of each batch, written in the batch's Kafka
        transaction (the relay creates it, one partition, compacted)."""
        return f"{self.prefix}crmbus.outbox.progress.{relay}"
