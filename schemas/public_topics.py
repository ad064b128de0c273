"""The typed public topics of the built-in event types: which schema each carries, and the encoder
the router writes them with.

One schema per topic, registered as ``<topic>-value`` (TopicNameStrategy) when a registry is
configured; without one, its id comes from ``avro/ids.yaml`` like every other schema, so each
generated schema is also kept as a file, ``avro/public/<topic>.r<revision>.avsc`` (the type's
revision that first produced it), and a spec checks that the newest file is what the generator
makes today.

A type's major versions are separate contracts: v1 publishes to its public topic, v``N`` (N > 1)
to ``<topic>.vN``, each with its own subject. A v1 consumer never meets a v2 record it cannot
read, and moves to v2 by subscribing to the new topic.

A tenant's own type publishes the event's generic envelope, the lane record's bytes as they are,
to the shared ``custom.events``; one that asks for a typed topic (``typed_topic``) publishes
typed Avro to ``custom.<tenant_id>.<type>`` instead, its schema generated the same way. That
schema is defined at runtime, so its id can only come from a registry: ``crmbus types add``
registers it (and creates the topic) before the type is stored, and refuses ``typed_topic``
without a registry.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import fastavro

from schemas.avro_schemas import AVRO_DIR, AvroSchema, SchemaIds, load_schema
from schemas.catalogue import RAW_VALUE, TYPED_VALUE, TopicSpec, load_catalogue
from schemas.codec import AvroCodec
from schemas.event_types import built_in_types
from schemas.topic_names import CUSTOM_EVENTS, custom_topic, versioned_topic
from schemas.typed_avro import typed_avro_schema, typed_datum
from streams.envelope import Envelope
from streams.errors import ConfigurationError, SchemaMismatchError
from streams.event_type import EventType

PUBLIC_AVRO_DIR = AVRO_DIR / "public"


def schema_text(raw: Mapping[str, Any]) -> str:
    """The one text a generated schema is written, registered and compared as."""
    return json.dumps(raw, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True, slots=True)
class PublicType:
    """One built-in type's major version and the typed schema of its public topic."""

    event_type: str
    version: int
    topic: str  # without the deployment's prefix
    raw: Mapping[str, Any] = field(repr=False)
    schema: AvroSchema = field(repr=False)

    @classmethod
    def of(
        cls,
        event_type: str,
        version: int,
        public_topic: str,
        payload_schema: Mapping[str, Any],
        description: str | None = None,
    ) -> PublicType:
        raw = typed_avro_schema(event_type, version, payload_schema, description)
        name = f"{raw['namespace']}.{raw['name']}"
        schema = AvroSchema(name=name, text=schema_text(raw), parsed=fastavro.parse_schema(raw))
        return cls(event_type, version, versioned_topic(public_topic, version), raw, schema)


@cache
def built_in_public_types() -> Mapping[str, PublicType]:
    """Topic (unprefixed) -> the typed schema crmbus publishes there."""
    made = (
        PublicType.of(t.name, t.version, t.public_topic, t.schema, t.description)
        for t in built_in_types()
        if t.public_topic is not None
    )
    return {public.topic: public for public in made}


def tenant_public_type(event_type: EventType) -> PublicType:
    """The typed topic of a tenant's type (``custom.<tenant_id>.<type>``, ``.vN`` for a later major
    version) and its schema; ConfigurationError naming the payload path Avro cannot express."""
    if event_type.tenant_id is None:
        raise ConfigurationError(f"{event_type.name} is a built-in type: it publishes to its public_topic")
    base = custom_topic(event_type.tenant_id, event_type.name)
    return PublicType.of(event_type.name, event_type.version, base, event_type.schema, event_type.description)


def tenant_topic_spec(topic: str) -> TopicSpec:
    """What a tenant type's typed topic (``topic``, prefixed) looks like: the shared
    ``custom.events``' partitions, retention and key, a typed value."""
    return dataclasses.replace(
        load_catalogue()[CUSTOM_EVENTS],
        name=topic,
        value_schema=TYPED_VALUE,
        purpose="One tenant type's events, typed Avro generated from its schema (the registry's <topic>-value).",
    )


def published_schema(topic: str) -> AvroSchema:
    """The value schema crmbus writes on ``topic`` (a catalogue name without prefix)."""
    public = built_in_public_types().get(topic)
    if public is not None:
        return public.schema
    spec = load_catalogue()[topic]
    if spec.value_schema == RAW_VALUE:
        raise ConfigurationError(f"{topic} keeps the original bytes of any record: it has no schema of its own")
    if spec.value_schema == TYPED_VALUE:
        raise ConfigurationError(f"{topic} is typed, but no built-in event type publishes to it")
    return load_schema(spec.value_schema)


@dataclass(frozen=True, slots=True)
class Published:
    topic: str
    value: bytes


class PublicEncoder:
    """The public record of an event: typed Avro for a built-in type (or a tenant's type with a
    typed topic), one codec (and subject) per topic; the generic envelope for a tenant's type."""

    def __init__(self, ids: SchemaIds, prefix: str = "", types: Iterable[PublicType] | None = None) -> None:
        chosen = built_in_public_types().values() if types is None else types
        self._types = {(t.event_type, t.version): t for t in chosen}
        self._ids, self._prefix = ids, prefix
        self._codecs: dict[str, AvroCodec] = {}
        # (tenant, type, version, revision) -> its typed topic: generated once per revision.
        self._tenant_types: dict[tuple[str, str, int, int], PublicType] = {}

    def encode(
        self, envelope: Envelope, event_type: EventType | None = None, original: bytes = b""
    ) -> Published | None:
        """None when the event's type and version have no public topic; SchemaMismatchError when
        its payload does not fit the topic's schema (the message names the path only).

        ``event_type`` is the event's type as the catalogue resolved it; a tenant's own type
        publishes ``original`` (the lane record's value, the envelope in the wire format) to the
        shared ``custom.events``, or its typed record when it asks for a typed topic."""
        if event_type is not None and event_type.tenant_id is not None:
            if not event_type.typed_topic:
                return Published(self._prefix + CUSTOM_EVENTS, original)
            return self._typed(self._tenant_type(event_type), envelope, runtime=True)
        public = self._types.get((envelope.type, envelope.schema_version))
        if public is None:
            return None
        return self._typed(public, envelope, runtime=False)

    def _tenant_type(self, event_type: EventType) -> PublicType:
        key = (event_type.tenant_id or "", event_type.name, event_type.version, event_type.revision)
        public = self._tenant_types.get(key)
        if public is None:
            try:
                public = tenant_public_type(event_type)
            except ConfigurationError as exc:  # `crmbus types add` refuses such a schema: a stale row
                raise SchemaMismatchError(f"no typed schema for {event_type.name}: {exc}") from exc
            self._tenant_types[key] = public
        return public

    def _typed(self, public: PublicType, envelope: Envelope, *, runtime: bool) -> Published:
        topic = self._prefix + public.topic
        codec = self._codecs.get(topic)
        if codec is None or codec.schema.text != public.schema.text:  # a tenant type's new revision
            try:
                codec = self._codecs[topic] = AvroCodec(public.schema, f"{topic}-value", self._ids)
            except ConfigurationError as exc:
                if not runtime:
                    raise
                # A schema defined at runtime (a tenant's type) has an id only in a registry.
                raise SchemaMismatchError(f"{public.topic}: no schema id (is a registry configured?): {exc}") from exc
        record = typed_datum(public.raw, envelope.to_record(), envelope.payload)
        try:
            return Published(topic, codec.encode(record))
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            # fastavro's messages may quote the value: name the class only.
            raise SchemaMismatchError(f"payload does not fit {public.topic}'s schema: {type(exc).__name__}") from exc
