"""One event type version's payload schema, compiled once: normalise a payload, then check it.

Checking is JSON Schema draft 2020-12 by jsonschema-rs (compiled, in Rust): measured against
fastjsonschema (drafts 4 to 7 only) and pydantic, see docs/performance.md. Before the check, one
walk guided by the schema normalises the payload the way every crmbus payload is normalised:

- an optional field sent as ``null`` is absent (canonical payloads never hold ``null``); a
  ``null`` item of an array stays, for the schema to judge;
- strings are trimmed;
- strings of a crmbus format (``streams.payload_formats``) take their canonical form;
- an integer-typed ``2.0`` becomes ``2`` (JSON Schema calls it an integer; consumers want one);
- absent properties with a ``default`` get it.

Errors name the field's dotted path and the rule, never the value (it may be personal data). A
schema may state a rule's message in an ``x-message`` beside the keyword that failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs

from streams.errors import InvalidEventError
from streams.payload_formats import FORMATS, FormatError

DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True, slots=True)
class LaterThan:
    """A cross-field rule JSON Schema cannot state: ``later`` is a later instant than ``than``."""

    later: str
    than: str


@dataclass(slots=True)
class _Shape:
    """What the normalising walk needs to know of one schema node."""

    properties: dict[str, _Shape] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    items: _Shape | None = None
    normalise: Callable[[str], str] | None = None
    integer: bool = False


class PayloadSchema:
    """A compiled payload schema: ``validate`` returns the normalised payload or raises."""

    def __init__(self, schema: Mapping[str, Any], rules: Sequence[LaterThan] = ()) -> None:
        self.schema = schema
        self.rules = tuple(rules)
        try:
            self._validator = jsonschema_rs.Draft202012Validator(
                dict(schema), validate_formats=True, formats={name: _anything for name in FORMATS}
            )
        except (ValueError, jsonschema_rs.ValidationError) as exc:
            raise ValueError(f"not a valid JSON Schema (draft 2020-12): {exc}") from None
        self._shape = _shape_of(schema, schema, depth=0)

    def validate(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``payload`` normalised and checked; ``InvalidEventError`` naming the first bad field."""
        if not isinstance(payload, Mapping):
            raise InvalidEventError("payload: must be a JSON object", field=None)
        normalised = _normalised_object(payload, self._shape, "")
        error = next(self._validator.iter_errors(normalised), None)
        if error is not None:
            path, message = _described(error, self.schema)
            raise InvalidEventError(f"{path or 'payload'}: {message}", field=path or None)
        for rule in self.rules:
            later, than = normalised.get(rule.later), normalised.get(rule.than)
            # Both are normalised UTC ISO strings, "Z"-suffixed: their order is the instants' order.
            if isinstance(later, str) and isinstance(than, str) and later <= than:
                raise InvalidEventError(f"{rule.later}: must be later than {rule.than}", field=rule.later)
        return normalised

    def paths(self) -> frozenset[str]:
        """Every dotted path a payload of this schema can hold, nested objects included."""
        return frozenset(_paths(self._shape, ""))


def _anything(value: str) -> bool:
    # crmbus's formats are checked (and rewritten) by the normalising walk, before the schema.
    return True


def _resolve(node: Any, root: Mapping[str, Any]) -> Any:
    ref = node.get("$ref") if isinstance(node, Mapping) else None
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return target
    return node


def _shape_of(node: Any, root: Mapping[str, Any], depth: int) -> _Shape:
    shape = _Shape()
    node = _resolve(node, root)
    if not isinstance(node, Mapping) or depth > 32:  # a recursive $ref: normalise no deeper
        return shape
    members = [node] + [_resolve(m, root) for key in ("allOf", "anyOf", "oneOf") for m in node.get(key, ())]
    for member in members:
        if not isinstance(member, Mapping):
            continue
        for name, sub in (member.get("properties") or {}).items():
            child = _shape_of(sub, root, depth + 1)
            known = shape.properties.get(name)
            if known is None or _richer(child, known):
                shape.properties[name] = child
            sub = _resolve(sub, root)
            if isinstance(sub, Mapping) and "default" in sub:
                shape.defaults.setdefault(name, sub["default"])
        if "items" in member and shape.items is None:
            shape.items = _shape_of(member["items"], root, depth + 1)
        normalise = FORMATS.get(member.get("format", ""))
        if normalise is not None:
            shape.normalise = normalise
        types = member.get("type")
        if types == "integer" or (isinstance(types, list) and "integer" in types):
            shape.integer = True
    return shape


def _richer(new: _Shape, old: _Shape) -> bool:
    return bool(new.properties or new.items or new.normalise) and not (old.properties or old.items or old.normalise)


def _normalised_object(value: Mapping[str, Any], shape: _Shape, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    properties = shape.properties
    for key, item in value.items():
        if item is None:
            continue
        child = properties.get(key)
        out[key] = _normalised(item, child, f"{prefix}{key}") if child is not None else _trimmed(item)
    for key, default in shape.defaults.items():
        if key not in out:
            out[key] = default
    return out


def _normalised(value: Any, shape: _Shape, path: str) -> Any:
    kind = type(value)
    if kind is str:
        text = value.strip()
        if shape.normalise is not None:
            try:
                return shape.normalise(text)
            except FormatError as exc:
                raise InvalidEventError(f"{path}: {exc}", field=path) from None
        return text
    if kind is dict:
        return _normalised_object(value, shape, path + ".")
    if kind is list:
        items = shape.items or _Shape()
        # A null item is kept: unlike an optional field, it is not "absent", and the schema judges it.
        return [_normalised(item, items, f"{path}[{index}]") for index, item in enumerate(value)]
    if kind is float and shape.integer and value.is_integer():
        return int(value)
    return value


def _trimmed(value: Any) -> Any:
    if type(value) is str:
        return value.strip()
    if type(value) is dict:
        return {key: _trimmed(item) for key, item in value.items() if item is not None}
    if type(value) is list:
        return [_trimmed(item) for item in value]
    return value


def _paths(shape: _Shape, prefix: str) -> Iterator[str]:
    for name, child in shape.properties.items():
        yield prefix + name
        yield from _paths(child, f"{prefix}{name}.")


def _described(error: jsonschema_rs.ValidationError, schema: Mapping[str, Any]) -> tuple[str, str]:
    """The dotted path of the offending field and its rule, in words that never quote the value."""
    parts = [str(part) for part in error.instance_path]
    kind: Any = error.kind
    name = kind.name
    if name == "required":
        parts.append(str(kind.property))
    elif name in ("additionalProperties", "unevaluatedProperties"):
        unexpected = list(getattr(kind, "unexpected", ()) or ())
        if unexpected:
            parts.append(str(unexpected[0]))
    path = _dotted(parts)
    custom = _custom_message(error.schema_path, schema)
    return path, custom or _rule(kind)


def _dotted(parts: Sequence[str]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text


def _custom_message(schema_path: Sequence[Any], schema: Mapping[str, Any]) -> str | None:
    node: Any = schema
    found = None
    for part in list(schema_path)[:-1]:
        node = node.get(part) if isinstance(node, Mapping) else node[part] if isinstance(node, list) else None
        if node is None:
            return found
        if isinstance(node, Mapping) and isinstance(node.get("x-message"), str):
            found = node["x-message"]
    return found


_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "a JSON array",
    "null": "null",
}


def _rule(kind: Any) -> str:
    name = kind.name
    value = getattr(kind, "value", None)
    if name == "required":
        return "is required"
    if name in ("additionalProperties", "unevaluatedProperties"):
        return "is not a field of this event type"
    if name == "type":
        types = kind.types if isinstance(kind.types, list) else [kind.types]
        return "must be " + " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in types)
    if name == "enum":
        return "must be one of " + ", ".join(str(option) for option in kind.options)
    if name == "const":
        return f"must be {kind.expected_value}" if hasattr(kind, "expected_value") else "has the wrong value"
    if name in ("minLength", "maxLength"):
        return f"must be {'at least' if name == 'minLength' else 'at most'} {kind.limit} characters long"
    if name in ("minItems", "maxItems"):
        return f"must hold {'at least' if name == 'minItems' else 'at most'} {kind.limit} items"
    words = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "greater than",
        "exclusiveMaximum": "less than",
        "multipleOf": "a multiple of",
    }
    if name in words:
        return f"must be {words[name]} {getattr(kind, 'limit', getattr(kind, 'multiple_of', value))}"
    if name == "pattern":
        return "must not be blank" if kind.pattern == r"\S" else f"must match the pattern {kind.pattern}"
    if name == "format":
        return f"must be a valid {kind.format}"
    if name == "uniqueItems":
        return "must not repeat an item"
    if name in ("not", "falseSchema"):
        return "is not allowed here"
    return f"does not satisfy the type's schema ({name})"
