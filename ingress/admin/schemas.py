"""The JSON schemas of the admin API's bodies, shared by the route table and its OpenAPI document."""

from __future__ import annotations

from typing import Any

from infra.db.inbound_sources import SIGNING_SOURCES, SOURCES
from infra.db.tenants import TENANT_ID
from streams.partitioning import PARTITIONINGS
from streams.routes import DESTINATIONS
from streams.scopes import ROLES, SCOPES

TENANT_ID_PATTERN = f"^{TENANT_ID.pattern}$"
NAME = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[A-Za-z0-9][A-Za-z0-9 ._-]*$"}
WHEN = {"type": "string", "format": "date-time"}
MAYBE_WHEN = {"type": ["string", "null"], "format": "date-time"}
UUID = {"type": "string", "format": "uuid"}
SCOPE_LIST = {"type": "array", "items": {"enum": list(SCOPES)}, "uniqueItems": True}
ANY_OBJECT: dict[str, Any] = {"type": "object"}


def obj(required: list[str], properties: dict[str, Any], *, closed: bool = True, **more: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": required, "properties": properties}
    if closed:
        schema["additionalProperties"] = False
    return schema | more


TENANT = obj(
    ["id", "name", "status", "partitioning", "created_at"],
    {"id": {"type": "string"}, "name": {"type": "string"}, "status": {"type": "string"},
     "partitioning": {"enum": list(PARTITIONINGS)}, "created_at": WHEN},
    closed=False,
)  # fmt: skip
NEW_TENANT = obj(
    ["id"],
    {"id": {"type": "string", "pattern": TENANT_ID_PATTERN},
     "name": {"type": "string", "minLength": 1, "maxLength": 200},
     "partitioning": {"enum": list(PARTITIONINGS)}},
)  # fmt: skip
TENANT_PATCH = obj(["partitioning"], {"partitioning": {"enum": list(PARTITIONINGS)}})

API_KEY = obj(
    ["id", "tenant_id", "name", "display_prefix", "scopes", "role", "created_at", "expires_at", "revoked_at"],
    {"id": UUID, "tenant_id": {"type": ["string", "null"]}, "name": {"type": "string"},
     "display_prefix": {"type": "string"}, "scopes": SCOPE_LIST, "role": {"enum": [*ROLES, None]},
     "created_at": WHEN, "expires_at": MAYBE_WHEN, "revoked_at": MAYBE_WHEN, "last_used_at": MAYBE_WHEN},
    closed=False,
)  # fmt: skip
NEW_API_KEY = obj(
    ["name"],
    {"name": NAME, "role": {"enum": list(ROLES)}, "scopes": SCOPE_LIST | {"minItems": 1}},
    description="A role or a list of scopes (not both; neither is a producer). A key may grant only scopes "
    "its creator holds, and admin only by an admin.",
    # Both, and the role's scopes might not be the ones listed: ask for one.
) | {"not": {"required": ["role", "scopes"]}}
API_KEY_SECRET = API_KEY | {
    "required": [*API_KEY["required"], "secret"],
    "properties": API_KEY["properties"] | {"secret": {"type": "string", "description": "Shown once"}},
}
ROTATION = obj(
    [],
    {"overlap_seconds": {"type": "integer", "minimum": 0, "maximum": 30 * 24 * 3600, "description": "Default 86400"}},
)

SOURCE = obj(
    ["id", "tenant_id", "source", "name", "signed", "created_at", "revoked_at"],
    {"id": UUID, "tenant_id": {"type": "string"}, "source": {"enum": list(SOURCES)}, "name": {"type": "string"},
     "signed": {"type": "boolean"}, "created_at": WHEN, "revoked_at": MAYBE_WHEN},
    closed=False,
)  # fmt: skip
_SIGNED = {"type": "boolean", "description": "Default: whether the source can sign (waha, crm, operacao, financeiro)"}
NEW_SOURCE = obj(["source"], {"source": {"enum": list(SOURCES)}, "name": NAME, "signed": _SIGNED}) | {
    # Only a source that can sign may be asked to.
    "if": {"properties": {"source": {"enum": sorted(set(SOURCES) - SIGNING_SOURCES)}}},
    "then": {"properties": {"signed": {"const": False}}},
}
SOURCE_SECRETS = obj(
    ["id", "tenant_id", "source", "token", "signing_secret"],
    {"id": UUID, "tenant_id": {"type": "string"}, "source": {"enum": list(SOURCES)},
     "token": {"type": "string", "description": "The webhook URL's secret part; shown once"},
     "signing_secret": {"type": ["string", "null"], "description": "Shown once"}},
    closed=False,
)  # fmt: skip

DESTINATION = obj(
    ["id", "tenant_id", "name", "kind", "url", "config", "has_secret", "enabled", "missing", "paused_at"],
    {"id": UUID, "tenant_id": {"type": "string"}, "name": {"type": "string"}, "kind": {"enum": list(DESTINATIONS)},
     "url": {"type": "string"}, "config": ANY_OBJECT, "has_secret": {"type": "boolean"},
     "enabled": {"type": "boolean"}, "missing": {"type": "array", "items": {"type": "string"}},
     "paused_at": MAYBE_WHEN | {"description": "Set while paused: deliveries wait, none is attempted"}},
    closed=False,
    description="The credential (secret) is write-only: has_secret says whether one is set.",
)  # fmt: skip
_URL = {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": "^https?://[^\\s]+$"}
NEW_DESTINATION = obj(
    ["name", "kind", "url"],
    {"name": NAME, "kind": {"enum": list(DESTINATIONS)}, "url": _URL, "config": ANY_OBJECT,
     "secret": {"type": "string", "minLength": 1, "maxLength": 4000, "writeOnly": True}},
)  # fmt: skip
DESTINATION_PATCH = obj(
    [],
    {"url": _URL, "config": ANY_OBJECT | {"description": "Merged into the config; a key set to null is removed"},
     "secret": {"type": "string", "minLength": 1, "maxLength": 4000, "writeOnly": True}},
    minProperties=1,
)  # fmt: skip

ROUTE = obj(
    ["id", "tenant_id", "event_type", "destination", "action", "filter", "mapping", "delay_seconds", "enabled",
     "version", "paused"],
    {"id": UUID, "tenant_id": {"type": "string"}, "event_type": {"type": "string"}, "destination": {"type": "string"},
     "action": {"type": "string"}, "filter": ANY_OBJECT, "mapping": ANY_OBJECT, "delay_seconds": {"type": "integer"},
     "enabled": {"type": "boolean"}, "version": {"type": "integer"}, "paused": {"type": ["string", "null"]}},
    closed=False,
)  # fmt: skip
NEW_ROUTE = obj(
    ["event_type", "destination", "action"],
    {"event_type": {"type": "string", "minLength": 1, "maxLength": 100}, "destination": NAME,
     "action": {"type": "string", "minLength": 1, "maxLength": 100}, "filter": ANY_OBJECT, "mapping": ANY_OBJECT,
     "delay_seconds": {"type": "integer", "minimum": 0, "maximum": 7 * 24 * 3600}},
)  # fmt: skip
ROUTE_SAMPLE = obj(
    ["payload"],
    {"payload": ANY_OBJECT | {"description": "A sample payload of the route's event type"},
     "version": {"type": "integer", "minimum": 1, "maximum": 1000}},
)  # fmt: skip
ROUTE_TEST = obj(
    ["matches", "destination", "action", "delivery"],
    {"matches": {"type": "boolean", "description": "Whether the route's filter takes the payload"},
     "destination": {"type": "string"}, "action": {"type": "string"},
     "delivery": {"type": ["object", "null"], "description": "What would be delivered; null when filtered out"}},
)  # fmt: skip

EVENT_TYPE = obj(
    ["name", "version", "revision", "deprecated", "document"],
    {"name": {"type": "string"}, "version": {"type": "integer"}, "revision": {"type": "integer"},
     "deprecated": {"type": "boolean"}, "document": ANY_OBJECT},
)  # fmt: skip
NEW_EVENT_TYPE = ANY_OBJECT | {
    "required": ["name", "version", "schema"],
    "description": "An event type document (docs/event-types.md); the same as 'crmbus types add' reads",
}
EVENT_TYPE_ADDED = EVENT_TYPE | {
    "required": [*EVENT_TYPE["required"], "outcome"],
    "properties": EVENT_TYPE["properties"]
    | {"outcome": {"enum": ["new type", "new version", "new revision", "unchanged"]}},
}
