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
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import fastavro

from schemas.avro_schemas import AVRO_DIR, AvroSchema, SchemaIds, load_schema
from schemas.catalogue import RAW_VALUE, TYPED_VALUE, load_catalogue
from schemas.codec import AvroCodec
from schemas.event_types import built_in_types
from schemas.typed_avro import typed_avro_schema, typed_datum
from streams.envelope import Envelope
from streams.errors import ConfigurationError, SchemaMismatchError

PUBLIC_AVRO_DIR = AVRO_DIR / "public"


def versioned_topic(public_topic: str, version: int) -> str:
    """Where v``version`` of a type publishes: v1 on its public topic, later majors beside it."""
    return public_topic if version == 1 else f"{public_topic}.v{version}"


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
    """The typed public record of an event of a built-in type, one codec (and subject) per topic."""

    def __init__(self, ids: SchemaIds, prefix: str = "", types: Iterable[PublicType] | None = None) -> None:
        chosen = built_in_public_types().values() if types is None else types
        self._types = {(t.event_type, t.version): t for t in chosen}
        self._ids, self._prefix = ids, prefix
        self._codecs: dict[str, AvroCodec] = {}

    def encode(self, envelope: Envelope) -> Published | None:
        """None when the event's type and version have no public topic; SchemaMismatchError when
        its payload does not fit the topic's schema (the message names the path only)."""
        public = self._types.get((envelope.type, envelope.schema_version))
        if public is None:
            return None
        topic = self._prefix + public.topic
        codec = self._codecs.get(topic)
        if codec is None:
            codec = self._codecs[topic] = AvroCodec(public.schema, f"{topic}-value", self._ids)
        record = typed_datum(public.raw, envelope.to_record(), envelope.payload)
        try:
            return Published(topic, codec.encode(record))
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            # fastavro's messages may quote the value: name the class only.
            raise SchemaMismatchError(f"payload does not fit {public.topic}'s schema: {type(exc).__name__}") from exc
