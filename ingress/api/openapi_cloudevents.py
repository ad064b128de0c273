"""The OpenAPI document's CloudEvents parts: one event (application/cloudevents+json) and a batch
(application/cloudevents-batch+json), stated with the patterns streams/cloudevents.py checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.cloudevents import (
    ID_PATTERN,
    JSON_CONTENT_TYPE_PATTERN,
    MAX_ID_LENGTH,
    MAX_INTEGER,
    MIN_INTEGER,
    NAME_PATTERN,
    SOURCE_PATTERN,
)
from streams.inbound import KEY_PATTERN, MAX_KEY_LENGTH


def cloudevent(payload_schemas: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """One CloudEvent in the JSON format, a variant per event type (its payload schema in
    ``payload_schemas``): the attributes crmbus reads, any other extension attribute ignored."""
    key = {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": KEY_PATTERN}
    extension = {
        "anyOf": [
            {"type": ["string", "boolean", "null"]},
            {"type": "integer", "minimum": MIN_INTEGER, "maximum": MAX_INTEGER},
        ],
        "description": "An extension attribute crmbus does not read: ignored.",
    }
    variants = [
        {
            "type": "object",
            "title": event_type,
            "required": ["specversion", "id", "source", "type", "data"],
            "properties": {
                "specversion": {"const": "1.0"},
                "id": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_ID_LENGTH,
                    "pattern": ID_PATTERN,
                    "description": "With source, the idempotency key ('<source> <id>'): the same source "
                    "and id again within the dedupe TTL produce nothing more.",
                },
                "source": {
                    "type": "string",
                    "pattern": SOURCE_PATTERN,
                    "description": "A URI-reference naming the producer (visible ASCII, no spaces).",
                },
                "type": {"const": event_type},
                "data": schema,
                "datacontenttype": {"type": ["string", "null"], "pattern": JSON_CONTENT_TYPE_PATTERN},
                "dataschema": {"type": ["string", "null"], "minLength": 1, "description": "Ignored."},
                "time": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "occurred_at: from 1970-01-01 (UTC), not more than 5 minutes in the future. "
                    "Default: now.",
                },
                "subject": key | {"description": "The ordering key."},
                "correlationid": key | {"description": "The correlation id (Correlation extension)."},
                "dataversion": {
                    "type": ["integer", "null"],
                    "enum": [1, None],
                    "description": "The type's major version (an extension attribute); default 1.",
                },
            },
            "propertyNames": {"pattern": NAME_PATTERN},
            "additionalProperties": extension,
        }
        for event_type, schema in payload_schemas.items()
    ]
    return {"oneOf": variants, "discriminator": {"propertyName": "type"}}


def cloudevents_batch(batch_max: int) -> dict[str, Any]:
    """The media type object of a CloudEvents batch of at most ``batch_max`` events."""
    return {
        "schema": {
            "type": "array",
            "minItems": 1,
            "maxItems": batch_max,
            # As in the JSON batch: each event is checked on its own and answered in its result.
            "items": {
                "type": "object",
                "description": "A CloudEvent; one that is not valid gets its own problem in results.",
            },
        }
    }
