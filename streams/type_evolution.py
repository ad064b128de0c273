"""Which changes to an event type's payload schema its current major version can take.

A new revision of a major version must accept every payload the current one accepts: producers
that have not changed keep working, and events already stored or in flight still validate when
they are replayed. So a revision may add optional properties (to a closed object), widen an enum
or a type, loosen a limit (a longer ``maxLength``, a lower ``minimum``, fewer ``required``) or edit
annotations (``description``, ``title``, ``examples``...). Anything else breaks the major version
and needs a new one.

The check is conservative: a keyword it has no rule for, or a composition (``anyOf``, ``$ref``,
``if``...) that changed, is reported as breaking, because it cannot show the new schema still
accepts what the old one did. Each breaking change names the payload field by its dotted path
(``customer.phone``; ``items[]`` for an array's items, ``payload`` for the payload itself), the
way routes and ``InvalidEventError`` name fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from streams.errors import IncompatibleSchemaError
from streams.event_type import EventType

_ANNOTATIONS = frozenset(
    {"title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly", "$comment"}
)
_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum", "maxContains")
_LOWER_BOUNDS = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum", "minContains")
_MUST_STAY = ("pattern", "format", "const")
"""Keywords a revision may drop, but not add or change: no rule relates two patterns or formats."""
_HANDLED = frozenset(
    {
        "type", "enum", "properties", "required", "additionalProperties", "items", "uniqueItems", "multipleOf",
        *_UPPER_BOUNDS, *_LOWER_BOUNDS, *_MUST_STAY,
    }
)  # fmt: skip

Schema = Mapping[str, Any] | bool
"""A JSON Schema (draft 2020-12): an object, or ``true`` (anything) / ``false`` (nothing)."""


@dataclass(frozen=True, slots=True)
class BreakingChange:
    """One way a proposed schema refuses payloads the current one accepts."""

    path: str
    """The payload field's dotted path; ``payload`` for the payload itself."""
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def breaking_changes(current: Schema, proposed: Schema) -> list[BreakingChange]:
    """Every breaking change from ``current`` to ``proposed``, in document order; empty when
    ``proposed`` may be a new revision of the same major version."""
    found: list[BreakingChange] = []
    _compare(current, proposed, "", found.append)
    return found


def check_compatible(current: Schema, proposed: Schema, *, subject: str, next_version: int) -> None:
    """Nothing when ``proposed`` may follow ``current`` in the same major version; otherwise
    ``IncompatibleSchemaError`` whose ``field`` is the first breaking change's path and whose
    message lists them all. ``subject`` names the type (``pedido.criado v1``) and
    ``next_version`` is the major version to register a breaking change as instead."""
    changes = breaking_changes(current, proposed)
    if changes:
        listed = "; ".join(str(change) for change in changes)
        raise IncompatibleSchemaError(
            f"{subject}: the new schema breaks it ({listed}); a revision may only add optional fields, "
            f"widen an enum or loosen a limit: register the change as version {next_version} instead",
            field=changes[0].path,
        )


def check_revision(current: EventType, proposed: EventType, *, next_version: int) -> None:
    """Nothing when ``proposed`` may be the next revision of ``current``'s major version; else
    ``IncompatibleSchemaError`` naming the first field it breaks.

    Beyond the schema, a revision may not add a cross-field rule (it refuses payloads that passed)
    nor move the entity key (events of one major version are ordered by one key); its lane,
    description, personal-data paths and example may change.
    """
    subject = f"{proposed.name} v{proposed.version}"
    check_compatible(current.schema, proposed.schema, subject=subject, next_version=next_version)
    if proposed.entity_key != current.entity_key:
        raise IncompatibleSchemaError(
            f"{subject}: entity_key: changed; events of one major version are ordered by one key: register the "
            f"change as version {next_version} instead",
            field="entity_key",
        )
    for index, rule in enumerate(proposed.rules):
        if rule not in current.rules:
            raise IncompatibleSchemaError(
                f"{subject}: rules[{index}]: a new rule refuses payloads the current revision accepts: register "
                f"it as version {next_version} instead",
                field=f"rules[{index}]",
            )


Report = Callable[[BreakingChange], None]


def _compare(old: Schema, new: Schema, path: str, report: Report) -> None:
    def breaks(reason: str) -> None:
        report(BreakingChange(path or "payload", reason))

    if old is False or new is True:
        return  # nothing was accepted, or everything is
    if new is False:
        breaks("no longer accepts any value")
        return
    old_node: Mapping[str, Any] = {} if old is True else old
    new_node: Mapping[str, Any] = new
    if not _types_widen(old_node.get("type"), new_node.get("type"), breaks):
        return  # a field of another type: what its keywords say no longer compares
    _compare_enum(old_node.get("enum"), new_node.get("enum"), breaks)
    _compare_bounds(old_node, new_node, breaks)
    for keyword in _MUST_STAY:
        _compare_kept(keyword, old_node, new_node, breaks)
    if new_node.get("uniqueItems") is True and old_node.get("uniqueItems") is not True:
        breaks("uniqueItems added")
    _compare_multiple_of(old_node.get("multipleOf"), new_node.get("multipleOf"), breaks)
    _compare_object(old_node, new_node, path, report, breaks)
    if "items" in old_node or "items" in new_node:
        _compare(old_node.get("items", True), new_node.get("items", True), f"{path}[]" if path else "[]", report)
    for keyword in sorted((old_node.keys() | new_node.keys()) - _HANDLED - _ANNOTATIONS):
        if old_node.get(keyword) != new_node.get(keyword):
            verb = "added" if keyword not in old_node else "removed" if keyword not in new_node else "changed"
            breaks(f"{keyword} {verb}; crmbus cannot show the new schema still accepts what the old one did")


def _type_set(declared: Any) -> frozenset[str] | None:
    if declared is None:
        return None
    return frozenset([declared] if isinstance(declared, str) else declared)


def _type_text(types: frozenset[str]) -> str:
    return " or ".join(sorted(types))


def _types_widen(old: Any, new: Any, breaks: Callable[[str], None]) -> bool:
    """Whether every type ``old`` accepts ``new`` accepts too (an integer is a number); reports it if not."""
    old_types, new_types = _type_set(old), _type_set(new)
    if new_types is None:
        return True
    if old_types is None:
        breaks(f"type now restricted to {_type_text(new_types)}")
        return False
    lost = {kind for kind in old_types - new_types if not (kind == "integer" and "number" in new_types)}
    if lost:
        breaks(f"type changed from {_type_text(old_types)} to {_type_text(new_types)}")
        return False
    return True


def _compare_enum(old: Any, new: Any, breaks: Callable[[str], None]) -> None:
    if new is None:
        return
    if old is None:
        breaks("enum added")
        return
    for value in old:
        if value not in new:
            breaks(f"enum value {value!r} removed")


def _compare_bounds(old: Mapping[str, Any], new: Mapping[str, Any], breaks: Callable[[str], None]) -> None:
    for keywords, narrowed, word in ((_UPPER_BOUNDS, _lower, "narrowed"), (_LOWER_BOUNDS, _higher, "raised")):
        for keyword in keywords:
            if keyword not in new:
                continue
            if keyword not in old:
                breaks(f"{keyword} added")
            elif narrowed(new[keyword], old[keyword]):
                breaks(f"{keyword} {word} from {old[keyword]} to {new[keyword]}")


def _lower(new: Any, old: Any) -> bool:
    return bool(new < old)


def _higher(new: Any, old: Any) -> bool:
    return bool(new > old)


def _compare_kept(keyword: str, old: Mapping[str, Any], new: Mapping[str, Any], breaks: Callable[[str], None]) -> None:
    if keyword not in new or old.get(keyword) == new[keyword]:
        return
    breaks(f"{keyword} added" if keyword not in old else f"{keyword} changed")


def _compare_multiple_of(old: Any, new: Any, breaks: Callable[[str], None]) -> None:
    if new is None or old == new:
        return
    # Every multiple of old is one of new when old is a whole multiple of new (6 of 3); only exact
    # for integers, so fractional steps must stay as they are.
    if old is None:
        breaks("multipleOf added")
    elif not (isinstance(old, int) and isinstance(new, int) and old % new == 0):
        breaks(f"multipleOf changed from {old} to {new}")


def _compare_object(
    old: Mapping[str, Any], new: Mapping[str, Any], path: str, report: Report, breaks: Callable[[str], None]
) -> None:
    old_properties: Mapping[str, Schema] = old.get("properties", {})
    new_properties: Mapping[str, Schema] = new.get("properties", {})
    old_extra: Schema = old.get("additionalProperties", True)
    new_extra: Schema = new.get("additionalProperties", True)
    old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))

    def child(name: str) -> str:
        return f"{path}.{name}" if path else name

    for name, old_property in old_properties.items():
        if name not in new_properties:
            report(BreakingChange(child(name), "removed"))
        else:
            _compare(old_property, new_properties[name], child(name), report)
    for name, new_property in new_properties.items():
        if name not in old_properties:
            # Before, the object's additionalProperties said what this key could hold.
            _compare(old_extra, new_property, child(name), report)
    for name in sorted(new_required - old_required):
        reason = "became required" if name in old_properties else "is a new required field"
        report(BreakingChange(child(name), reason))
    if new_extra is False and old_extra is not False:
        breaks("additionalProperties now false")
    elif "additionalProperties" in old or "additionalProperties" in new:
        _compare(old_extra, new_extra, child("*"), report)
