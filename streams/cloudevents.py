"""A CloudEvents 1.0 event in the JSON format (structured mode) as crmbus's generic request. Pure.

``request_from_cloudevent`` checks what the CloudEvents specification and crmbus's envelope need
of an event, and builds the request document ``streams.inbound.envelope_from_request`` takes;
``as_attribute_error`` renames that function's errors after the attribute the sender sent.

- ``source`` and ``id`` together make the idempotency key (``<source> <id>``): the specification
  makes an id unique only within its source, so two producers of one tenant may both send id 1.
  A source is a URI-reference, which holds no space, so the first space splits the key unambiguously.
- Extension attributes have no meaning the specification defines; crmbus reads ``dataversion``
  (the type's major version) and ``correlationid`` (the documented Correlation extension) and
  ignores the others. A member whose name breaks the
  specification's naming rule, or whose value is not of its type system (an object, an array, a
  fraction, an integer beyond 32 bits), is not a CloudEvent: refused.
- ``null`` is the same as leaving an attribute out, as the JSON format says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from streams.errors import InvalidEventError
from streams.inbound import MAX_KEY_LENGTH

MEDIA_TYPE = "application/cloudevents+json"
BATCH_MEDIA_TYPE = "application/cloudevents-batch+json"
SPEC_VERSION = "1.0"
REQUIRED = ("specversion", "id", "source", "type")
MAX_SOURCE_LENGTH = 100
MAX_ID_LENGTH = MAX_KEY_LENGTH - MAX_SOURCE_LENGTH - 1
# A URI-reference is visible ASCII without spaces (RFC 3986); crmbus takes it as such, unparsed.
SOURCE_PATTERN = rf"^[!-~]{{1,{MAX_SOURCE_LENGTH}}}$"
_SOURCE = re.compile(SOURCE_PATTERN)
# CloudEvents strings exclude the C0 and C1 controls, as crmbus's keys do.
ID_PATTERN = rf"^[^\u0000-\u001f\u007f-\u009f]{{1,{MAX_ID_LENGTH}}}$"
_ID = re.compile(ID_PATTERN)
MIN_INTEGER, MAX_INTEGER = -(2**31), 2**31 - 1
NAME_PATTERN = r"^[a-z0-9]+$"
# application/json in any letter case (media types are case-insensitive), perhaps with parameters;
# spelt out letter by letter so that the OpenAPI document can state the same pattern.
JSON_CONTENT_TYPE_PATTERN = (
    "^" + "".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in "application/json") + " *(;.*)?$"
)
_JSON_CONTENT_TYPE = re.compile(JSON_CONTENT_TYPE_PATTERN)
_NAME = re.compile(NAME_PATTERN)
# data_base64 is the JSON format's own member, not an attribute: named so it can be refused clearly.
_MEMBERS = {"data", "data_base64"}
# The envelope field each attribute becomes; the rest of the core attributes are read and dropped.
FIELD_OF_ATTRIBUTE = {
    "type": "type",
    "data": "payload",
    "time": "occurred_at",
    "subject": "ordering_key",
    "correlationid": "correlation_id",
    "dataversion": "version",
}
_ATTRIBUTE_OF_FIELD = {field: name for name, field in FIELD_OF_ATTRIBUTE.items()} | {"idempotency_key": "id"}


def _is_integer(value: Any) -> bool:
    """A CloudEvents Integer (32 bits). JSON has one number type: 2.0 is an integer, as JSON Schema
    (and so the OpenAPI document) says."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return MIN_INTEGER <= value <= MAX_INTEGER and float(value).is_integer()


def _check_members(event: Mapping[str, Any]) -> None:
    for name, value in event.items():
        if name in _MEMBERS:
            continue
        if _NAME.fullmatch(name) is None:
            raise InvalidEventError(
                f"{name!r} is not a CloudEvents attribute: attribute names are lower-case letters and digits",
                field=name,
            )
        if not (value is None or isinstance(value, str | bool) or _is_integer(value)):
            raise InvalidEventError(
                f"{name} must be a string, a 32-bit integer or a boolean (CloudEvents attribute types)", field=name
            )


def _required(event: Mapping[str, Any]) -> None:
    # The version first: it says how to read the rest.
    if "specversion" in event and isinstance(event["specversion"], str) and event["specversion"] != SPEC_VERSION:
        raise InvalidEventError(f"specversion must be {SPEC_VERSION!r}", field="specversion")
    for name in REQUIRED:
        value = event.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidEventError(f"{name} is required and must be a non-empty string", field=name)
    if _SOURCE.fullmatch(event["source"]) is None:
        raise InvalidEventError(
            f"source must be a URI-reference of 1 to {MAX_SOURCE_LENGTH} visible ASCII characters without spaces",
            field="source",
        )
    if _ID.fullmatch(event["id"]) is None:
        raise InvalidEventError(f"id must be 1 to {MAX_ID_LENGTH} characters without control characters", field="id")


def _data(event: Mapping[str, Any]) -> Mapping[str, Any]:
    if event.get("data_base64") is not None:
        raise InvalidEventError(
            "data_base64 (binary data) is not accepted: send the payload as a JSON object in data", field="data_base64"
        )
    for name in ("datacontenttype", "dataschema"):
        if event.get(name) is not None and (not isinstance(event[name], str) or not event[name]):
            raise InvalidEventError(f"{name} must be a non-empty string, or left out", field=name)
    content_type = event.get("datacontenttype")
    if content_type is not None and _JSON_CONTENT_TYPE.fullmatch(content_type) is None:
        raise InvalidEventError("datacontenttype must be application/json, or left out", field="datacontenttype")
    data = event.get("data")
    if not isinstance(data, Mapping):
        raise InvalidEventError("data is required and must be a JSON object", field="data")
    return data


def request_from_cloudevent(event: Mapping[str, Any]) -> dict[str, Any]:
    """The generic request document for one CloudEvent; InvalidEventError names the attribute."""
    _check_members(event)
    _required(event)
    request: dict[str, Any] = {
        "type": event["type"],
        "payload": _data(event),
        "idempotency_key": f"{event['source']} {event['id']}",
    }
    for name in ("time", "subject", "correlationid"):
        if event.get(name) is not None:
            request[FIELD_OF_ATTRIBUTE[name]] = event[name]
    version = event.get("dataversion")
    if version is not None:
        if not _is_integer(version):
            raise InvalidEventError("dataversion must be an integer (the type's major version)", field="dataversion")
        request["version"] = int(version)
    return request


def attribute_of(field: str) -> str:
    """The CloudEvents attribute a field of the generic request came from (payload.phone: data.phone)."""
    head, dot, rest = field.partition(".")
    return _ATTRIBUTE_OF_FIELD.get(head, head) + dot + rest


def as_attribute_error(error: InvalidEventError) -> InvalidEventError:
    """``error`` of the generic request, naming the CloudEvents attribute instead of the field."""
    if error.field is None:
        return error
    attribute = attribute_of(error.field)
    message = str(error)
    if message.startswith(error.field):
        message = attribute + message[len(error.field) :]
    return InvalidEventError(message, field=attribute)
