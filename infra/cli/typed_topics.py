"""A tenant type's typed public topic, made ready by ``crmbus types add`` before the type is stored.

Its schema is generated from the type (``schemas.public_topics.tenant_public_type``) at runtime,
so only a schema registry can give it an id: ``typed_topic: true`` without one is refused, naming
the field. With one, the schema is registered as ``<topic>-value`` first (a revision's evolved
schema must pass the registry's compatibility check, which the generator's mapping makes
backward compatible), then the topic is created with the shared ``custom.events``' partitions and
retention, through the same admin code as ``crmbus topics apply``. Both steps are idempotent, so
adding the same document again repairs a topic deleted since.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from connectors.kafka.admin import apply_plan, describe_topics
from connectors.kafka.schema_registry import RegistryAccess, RegistrySchemaIds
from connectors.kafka.security import librdkafka_client
from infra.core.settings import Settings
from schemas.catalogue import Catalogue
from schemas.public_topics import tenant_public_type, tenant_topic_spec
from schemas.topic_names import TopicNames
from schemas.topic_plan import plan_topics
from streams.errors import ConfigurationError, InvalidEventTypeError
from streams.event_type import EventType


@dataclass(frozen=True, slots=True)
class TypedTopic:
    """What was made ready: the topic, whether it was created now, and the schema's subject and id."""

    topic: str
    created: bool
    partitions: int
    retention_ms: int
    subject: str
    schema_id: int


def check_typed_topic(event_type: EventType, settings: Settings) -> None:
    """Refuse a type asking for a typed topic that crmbus cannot give it, naming ``typed_topic``:
    without a registry, or with a schema Avro cannot express."""
    if not event_type.typed_topic:
        return
    if not settings.schema_registry_url:
        raise InvalidEventTypeError(
            "typed_topic: needs a schema registry (CRMBUS_SCHEMA_REGISTRY_URL): a schema defined at runtime has "
            "no id in schemas/avro/ids.yaml; configure one, or leave typed_topic out to publish the generic "
            "envelope on custom.events",
            field="typed_topic",
        )
    try:
        tenant_public_type(event_type)
    except ConfigurationError as exc:
        raise InvalidEventTypeError(f"typed_topic: {exc}", field="typed_topic") from None


def prepare_typed_topic(event_type: EventType, settings: Settings) -> TypedTopic:
    """Register the type's typed schema under ``<topic>-value``, then create the topic if missing.

    Raises ConfigurationError when the registry refuses the schema (incompatible with the one it
    holds, or our credentials), InfraError when Kafka refuses the topic."""
    check_typed_topic(event_type, settings)
    access = RegistryAccess.of(settings)
    if access is None or event_type.tenant_id is None:  # check_typed_topic refused both already
        raise ConfigurationError("a typed topic needs a tenant's type and a schema registry")
    public = tenant_public_type(event_type)
    topic = TopicNames(settings.topic_prefix).custom(event_type.tenant_id, event_type.name, event_type.version)
    subject = f"{topic}-value"
    ids = RegistrySchemaIds(access)
    try:
        schema_id = ids.id_for(subject, public.schema)
    finally:
        ids.close()
    spec = tenant_topic_spec(topic)
    admin = AdminClient(librdkafka_client(settings))
    plan = plan_topics(Catalogue({topic: spec}), describe_topics(admin, [topic]))
    apply_plan(admin, plan, settings.kafka_replication_factor)
    return TypedTopic(topic, bool(plan.create), spec.partitions, spec.retention_ms, subject, schema_id)


def describe_typed_topic(ready: TypedTopic) -> str:
    """One line saying where the type's events go and what was done for it."""
    days = ready.retention_ms / 86_400_000
    made = f"created ({ready.partitions} partitions, retention {days:g} d)" if ready.created else "exists already"
    return f"typed topic {ready.topic} {made}; its schema is {ready.subject} (id {ready.schema_id})"
