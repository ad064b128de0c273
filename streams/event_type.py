"""An event type as data: its name, version, payload schema and what crmbus must know about it.

Built-in types are files in ``schemas/types/``; tenants register their own (``crmbus types add``),
kept in PostgreSQL. Both are the same document:

    name: lead.created          lower-case words joined by dots
    version: 1                  the major version; a breaking change is a new one, beside the old
    revision: 1                 grows with each compatible change of this major version
    description: ...
    lane: default               high | default | low: the ingress topic it travels in
    entity_key: lead_id         the payload path its events are ordered (and spread) by
    personal_data: [name, phone]  payload paths holding personal data (LGPD)
    public_topic: crm.lead.created  built-in types: their public domain topic
    typed_topic: true           tenants' types: publish typed Avro on their own public topic
    rules: [{later: ended_at, than: started_at}]
    schema: {...}               JSON Schema draft 2020-12 of the payload, an object
    example: {...}              a payload that validates, already normalised
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, cast

from streams.errors import InvalidEventError, InvalidEventTypeError
from streams.payload_schema import DIALECT, LaterThan, PayloadSchema

Lane = Literal["high", "default", "low"]
LANES: tuple[Lane, ...] = ("high", "default", "low")
NAME_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
_NAME = re.compile(NAME_PATTERN)
_MAX_CLEAR_KEY = 120
_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_KEYS = frozenset(
    {
        "name", "version", "revision", "description", "lane", "entity_key", "personal_data",
        "public_topic", "typed_topic", "rules", "schema", "example", "deprecated",
    }
)  # fmt: skip


@dataclass(frozen=True)
class EventType:
    """One version of one event type; ``tenant_id`` is None for a built-in type.

    Not slotted: ``compiled`` is computed once and kept in the instance's ``__dict__``."""

    name: str
    version: int
    schema: Mapping[str, Any]
    revision: int = 1
    description: str = ""
    lane: Lane = "default"
    entity_key: str | None = None
    personal_data: tuple[str, ...] = ()
    public_topic: str | None = None
    typed_topic: bool = False
    rules: tuple[LaterThan, ...] = ()
    example: Mapping[str, Any] | None = None
    deprecated: bool = False
    tenant_id: str | None = None

    @cached_property
    def compiled(self) -> PayloadSchema:
        """The payload schema, compiled on first use and kept (types are immutable)."""
        return PayloadSchema(self.schema, self.rules)

    def validate(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``payload`` normalised; ``InvalidEventError`` naming the first offending field."""
        return self.compiled.validate(payload)

    def entity_value(self, payload: Mapping[str, Any]) -> str | None:
        """The ordering key a normalised payload gives, ``<path>:<value>``; None without a value.

        The value is replaced by its SHA-256 digest when it is personal data (a phone) or long:
        keys travel outside the payload, where no personal data may go. A digest of a phone is
        pseudonymous, not anonymous, so keys still deserve an internal identifier's care.
        """
        if self.entity_key is None:
            return None
        node: Any = payload
        for part in self.entity_key.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, bool) or not isinstance(node, str | int) or node == "":
            return None
        text = str(node)
        if self.entity_key in self.personal_data or len(text) > _MAX_CLEAR_KEY or not text.isprintable():
            text = hashlib.sha256(text.encode()).hexdigest()[:32]
        return f"{self.entity_key}:{text}"

    def to_document(self) -> dict[str, Any]:
        """The type's definition document, as ``event_type_from_document`` reads it."""
        document: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "revision": self.revision,
            "description": self.description,
            "lane": self.lane,
        }
        if self.entity_key is not None:
            document["entity_key"] = self.entity_key
        document["personal_data"] = list(self.personal_data)
        if self.public_topic is not None:
            document["public_topic"] = self.public_topic
        if self.typed_topic:
            document["typed_topic"] = True
        if self.rules:
            document["rules"] = [{"later": rule.later, "than": rule.than} for rule in self.rules]
        if self.deprecated:
            document["deprecated"] = True
        document["schema"] = dict(self.schema)
        if self.example is not None:
            document["example"] = dict(self.example)
        return document


def event_type_from_document(document: Mapping[str, Any], *, tenant_id: str | None) -> EventType:
    """The type a definition document describes, checked; ``InvalidEventTypeError`` naming the field."""
    if not isinstance(document, Mapping):
        raise InvalidEventTypeError("an event type is a mapping (YAML or JSON object)")
    unknown = sorted(set(document) - _KEYS)
    if unknown:
        raise InvalidEventTypeError(f"{unknown[0]}: is not a field of an event type", field=unknown[0])
    name = document.get("name")
    if not isinstance(name, str) or _NAME.fullmatch(name) is None or len(name) > 100:
        raise InvalidEventTypeError("name: must be lower-case words joined by dots, like pedido.criado", field="name")
    version = _positive(document, "version", default=None)
    revision = _positive(document, "revision", default=1)
    lane = document.get("lane", "default")
    if lane not in LANES:
        raise InvalidEventTypeError("lane: must be high, default or low", field="lane")
    schema = document.get("schema")
    compiled = _schema(schema)
    paths = compiled.paths()
    entity_key = document.get("entity_key")
    if entity_key is not None:
        _path(entity_key, "entity_key", paths)
    personal = document.get("personal_data", [])
    if not isinstance(personal, list):
        raise InvalidEventTypeError("personal_data: must be a list of payload paths", field="personal_data")
    for index, path in enumerate(personal):
        _path(path, f"personal_data[{index}]", paths)
    rules = _rules(document.get("rules", []), paths)
    description = document.get("description", "")
    if not isinstance(description, str):
        raise InvalidEventTypeError("description: must be text", field="description")
    public_topic = document.get("public_topic")
    if public_topic is not None and (tenant_id is not None or not isinstance(public_topic, str)):
        raise InvalidEventTypeError("public_topic: only built-in types name a public topic", field="public_topic")
    typed_topic = document.get("typed_topic", False)
    if not isinstance(typed_topic, bool):
        raise InvalidEventTypeError("typed_topic: must be true or false", field="typed_topic")
    if typed_topic and tenant_id is None:
        raise InvalidEventTypeError("typed_topic: a built-in type publishes to its public_topic", field="typed_topic")
    event_type = EventType(
        name=name,
        version=version,
        revision=revision,
        schema=dict(cast(Mapping[str, Any], schema)),
        description=description,
        lane=lane,
        entity_key=entity_key,
        personal_data=tuple(personal),
        public_topic=public_topic,
        typed_topic=typed_topic,
        rules=rules,
        example=document.get("example"),
        deprecated=bool(document.get("deprecated", False)),
        tenant_id=tenant_id,
    )
    _check_example(event_type)
    return event_type


def _positive(document: Mapping[str, Any], name: str, default: int | None) -> int:
    value = document.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise InvalidEventTypeError(f"{name}: must be a whole number from 1", field=name)
    return int(value)


def _schema(schema: Any) -> PayloadSchema:
    if not isinstance(schema, Mapping):
        raise InvalidEventTypeError("schema: is required, a JSON Schema object", field="schema")
    if schema.get("$schema", DIALECT) != DIALECT:
        raise InvalidEventTypeError(f"schema.$schema: must be {DIALECT} (draft 2020-12)", field="schema.$schema")
    if schema.get("type") != "object":
        raise InvalidEventTypeError("schema.type: a payload is a JSON object: must be object", field="schema.type")
    try:
        return PayloadSchema(schema)
    except ValueError as exc:
        raise InvalidEventTypeError(f"schema: {exc}", field="schema") from None


def _path(path: Any, where: str, paths: frozenset[str]) -> None:
    if not isinstance(path, str) or _PATH.fullmatch(path) is None:
        raise InvalidEventTypeError(f"{where}: must be a payload path like cliente.id", field=where)
    if path not in paths:
        raise InvalidEventTypeError(f"{where}: is not a field of the schema", field=where)


def _rules(rules: Any, paths: frozenset[str]) -> tuple[LaterThan, ...]:
    if not isinstance(rules, Sequence) or isinstance(rules, str):
        raise InvalidEventTypeError("rules: must be a list", field="rules")
    checked = []
    for index, rule in enumerate(rules):
        where = f"rules[{index}]"
        if not isinstance(rule, Mapping) or set(rule) != {"later", "than"}:
            raise InvalidEventTypeError(f"{where}: a rule is {{later: <path>, than: <path>}}", field=where)
        _path(rule["later"], f"{where}.later", paths)
        _path(rule["than"], f"{where}.than", paths)
        checked.append(LaterThan(rule["later"], rule["than"]))
    return tuple(checked)


def _check_example(event_type: EventType) -> None:
    if event_type.example is None:
        return
    try:
        event_type.validate(event_type.example)
    except InvalidEventError as exc:
        raise InvalidEventTypeError(f"example: does not validate: {exc}", field="example") from None
