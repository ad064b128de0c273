"""The typed Avro value of a public topic, generated from an event type's JSON Schema.

A public topic carries the envelope's fields (as in ``avro/envelope.v1.avsc``) with ``payload``
as a nested record, one field per JSON Schema property, so that a consumer in another system
reads fields, not a JSON string. ``typed_avro_schema`` is a pure function of the type's name,
major version and payload schema; ``typed_datum`` turns one envelope's JSON payload into the
record that schema writes.

The mapping, and why:

- ``string`` -> string; ``integer`` -> long; ``number`` -> double; ``boolean`` -> boolean.
  Phones, e-mails, CPF, CEP and UF stay strings (they arrive normalised).
- ``format: date-time`` -> ``long``/``timestamp-micros``, like the envelope's own times: the
  ingress normalises them to UTC, so nothing is lost, and consumers get instants, not text.
- ``enum`` -> string, with the symbols listed in the field's ``doc``. An Avro enum would break
  a consumer that pinned an older schema as soon as a compatible revision widens the enum (a
  reader enum without the writer's symbol fails, and an enum default needs a catch-all symbol
  not every type has); strings are compatible under BACKWARD, FORWARD and FULL alike, and some
  values need not be valid Avro names.
- An object with ``properties`` -> a record named after its path (``LeadCreatedPayloadCampaign``); an
  object with only ``additionalProperties: <schema>`` -> a map; ``array`` -> an array.
- A property that is not ``required``, or that may be null (``anyOf``/``oneOf`` with
  ``{"type": "null"}``, or a ``type`` list with ``"null"``), -> ``["null", T]`` with default null.
  So a revision that adds optional properties adds fields with defaults: backward compatible.

Anything else (free-form objects, unions of several types) is refused with the property's path:
a built-in type that needs it must say how it should look on the wire first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from schemas.avro_schemas import AVRO_DIR
from streams.errors import ConfigurationError, SchemaMismatchError

NAMESPACE = "io.crmbus.public"
TIMESTAMP = {"type": "long", "logicalType": "timestamp-micros"}
_PRIMITIVES = {"string": "string", "integer": "long", "number": "double", "boolean": "boolean"}
_CONST_TYPES = {str: "string", int: "long", float: "double", bool: "boolean"}


@cache
def _envelope_fields() -> tuple[dict[str, Any], ...]:
    """The envelope's fields but ``payload``, from the envelope's schema file (one definition)."""
    raw = json.loads((AVRO_DIR / "envelope.v1.avsc").read_text(encoding="utf-8"))
    return tuple(f for f in raw["fields"] if f["name"] != "payload")


def record_name(event_type: str) -> str:
    """``whatsapp.message.received`` -> ``WhatsappMessageReceived``."""
    return "".join(part[:1].upper() + part[1:] for part in event_type.replace(".", "_").split("_") if part)


def typed_avro_schema(
    event_type: str, version: int, payload_schema: Mapping[str, Any], description: str | None = None
) -> dict[str, Any]:
    """The Avro schema (as JSON data) of ``event_type`` v``version``'s public topic; the payload's
    doc is ``description`` (the type's), else the payload schema's own.

    Raises ConfigurationError naming the payload path that has no Avro equivalent."""
    name = record_name(event_type)
    names: set[str] = {name}
    payload = _record(f"{name}Payload", payload_schema, "payload", names, event_type)
    description = description or payload_schema.get("description")
    return {
        "type": "record",
        "name": name,
        "namespace": f"{NAMESPACE}.v{version}",
        "doc": f"A {event_type} v{version} event as crmbus accepted it, its payload typed.",
        "fields": [
            *(dict(f) for f in _envelope_fields()),
            {
                "name": "payload",
                "type": payload,
                "doc": str(description) if description else f"The {event_type} payload.",
            },
        ],
    }


def _unsupported(event_type: str, path: str, why: str) -> ConfigurationError:
    return ConfigurationError(f"{event_type}: {path}: {why}; no typed Avro field for it")


def _record(name: str, node: Mapping[str, Any], path: str, names: set[str], event_type: str) -> dict[str, Any]:
    if name in names:
        raise _unsupported(event_type, path, f"the record name {name} is taken")
    names.add(name)
    if node.get("additionalProperties") is not False:  # extra keys would vanish from the typed value
        raise _unsupported(event_type, path, "an object with properties must set additionalProperties: false")
    required = set(node.get("required", ()))
    fields: list[dict[str, Any]] = []
    for prop, child in node["properties"].items():
        field_path = f"{path}.{prop}"
        if not prop.isidentifier() or not prop.isascii():
            raise _unsupported(event_type, field_path, "the name is not a valid Avro field name")
        inner, nullable = _unwrap_null(child, field_path, event_type)
        avro = _type(inner, name + record_name(prop), field_path, names, event_type)
        field: dict[str, Any] = {"name": prop}
        if nullable or prop not in required:
            field.update(type=["null", avro], default=None)
        else:
            field["type"] = avro
        doc = _doc(child, inner)
        if doc:
            field["doc"] = doc
        fields.append(field)
    return {"type": "record", "name": name, "fields": fields}


def _unwrap_null(node: Mapping[str, Any], path: str, event_type: str) -> tuple[Mapping[str, Any], bool]:
    """The non-null schema of ``node`` and whether null is allowed too."""
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if branches is None:
            continue
        others = [b for b in branches if b.get("type") != "null"]
        if len(others) != 1:
            raise _unsupported(event_type, path, f"{key} of several types")
        outer = {k: v for k, v in node.items() if k not in (key, "default", "title")}
        return {**others[0], **outer}, len(others) < len(branches)
    kind = node.get("type")
    if isinstance(kind, list):
        others = [k for k in kind if k != "null"]
        if len(others) != 1:
            raise _unsupported(event_type, path, "a type list of several types")
        return {**node, "type": others[0]}, len(others) < len(kind)
    return node, False


def _type(node: Mapping[str, Any], name: str, path: str, names: set[str], event_type: str) -> Any:
    if "const" in node:
        const_type = _CONST_TYPES.get(type(node["const"]))
        if const_type is None:
            raise _unsupported(event_type, path, "a const that is not a string, number or boolean")
        return const_type
    if "enum" in node:
        if not all(isinstance(symbol, str) for symbol in node["enum"]):
            raise _unsupported(event_type, path, "an enum of non-strings")
        return "string"
    kind = node.get("type")
    if kind == "string" and node.get("format") == "date-time":
        return dict(TIMESTAMP)
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    if kind == "array":
        items, nullable = _unwrap_null(node.get("items", {}), f"{path}[]", event_type)
        item = _type(items, f"{name}Item", f"{path}[]", names, event_type)
        return {"type": "array", "items": ["null", item] if nullable else item}
    if kind == "object" and "properties" in node:
        return _record(name, node, path, names, event_type)
    extra = node.get("additionalProperties")
    if kind == "object" and isinstance(extra, Mapping):
        values, nullable = _unwrap_null(extra, f"{path}{{}}", event_type)
        value = _type(values, f"{name}Value", f"{path}{{}}", names, event_type)
        return {"type": "map", "values": ["null", value] if nullable else value}
    raise _unsupported(event_type, path, f"type {kind!r} without properties or items")


def _doc(outer: Mapping[str, Any], inner: Mapping[str, Any]) -> str:
    """The field's description (the property's own, else its non-null branch's), and the allowed
    values of an enum."""
    text = str(outer.get("description") or inner.get("description") or "")
    if "enum" in inner:
        listed = "One of: " + ", ".join(inner["enum"]) + " (a compatible revision may add values)."
        text = f"{text} {listed}" if text else listed
    return text


def typed_datum(
    schema: Mapping[str, Any], envelope_record: Mapping[str, Any], payload: Mapping[str, Any]
) -> dict[str, Any]:
    """The record ``schema`` (from ``typed_avro_schema``) writes for one event: the envelope's
    Avro record with its JSON ``payload`` typed. A payload that does not fit raises
    SchemaMismatchError naming the path only (the value may be personal data)."""
    fields = {f["name"]: f["type"] for f in schema["fields"]}
    record = {name: envelope_record.get(name) for name in fields if name != "payload"}
    record["payload"] = _datum(fields["payload"], payload, "payload")
    return record


def _datum(avro: Any, value: Any, path: str) -> Any:
    if isinstance(avro, list):  # ["null", T]
        return None if value is None else _datum(avro[1], value, path)
    if value is None:
        raise SchemaMismatchError(f"{path}: is required by the public topic's schema")
    if isinstance(avro, str):
        return value
    kind = avro["type"]
    if kind == "record":
        if not isinstance(value, Mapping):
            raise SchemaMismatchError(f"{path}: is not an object")
        return {f["name"]: _datum(f["type"], value.get(f["name"]), f"{path}.{f['name']}") for f in avro["fields"]}
    if kind == "array":
        if not isinstance(value, list):
            raise SchemaMismatchError(f"{path}: is not an array")
        return [_datum(avro["items"], item, f"{path}[]") for item in value]
    if kind == "map":
        if not isinstance(value, Mapping):
            raise SchemaMismatchError(f"{path}: is not an object")
        return {str(k): _datum(avro["values"], v, f"{path}{{}}") for k, v in value.items()}
    if avro.get("logicalType") == "timestamp-micros":
        try:
            return value if isinstance(value, datetime) else datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise SchemaMismatchError(f"{path}: is not an ISO-8601 date-time") from None
    return value
