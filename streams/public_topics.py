"""Public domain topics: the canonical events other systems may consume straight from Kafka.

Each carries the envelope exactly as the ingress wrote it (Avro, Confluent wire format), keyed
by tenant. Internal topics (``crmbus.*``) may change shape between releases; these are a contract.
"""

from __future__ import annotations

PUBLIC_TOPICS: dict[str, str] = {
    "lead.created": "crm.lead.created",
    "lead.updated": "crm.lead.updated",
    "client.registered": "crm.client.registered",
    "service.completed": "ops.service.completed",
    "payment.received": "fin.payment.received",
    "whatsapp.message.received": "whatsapp.message.received",
}


def public_topic_for(event_type: str, prefix: str = "") -> str | None:
    """The public topic events of ``event_type`` are published to, if any."""
    topic = PUBLIC_TOPICS.get(event_type)
    return None if topic is None else prefix + topic
