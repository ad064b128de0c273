"""Route filters: a small JSON language, stored with each route, that says which events it takes.

A filter is data rather than code because tenants edit routes at run time and they are kept in
PostgreSQL (JSONB); data can be validated when saved and shown back as it was written::

    {}                                   every event
    {"<path>": <condition>, ...}         every condition holds (AND)
    {"$any": [<filter>, ...], ...}       at least one sub-filter holds, ANDed with the other keys

    <condition> := a JSON scalar         equality: {"channel": "site"}
                 | an object of one or more operators, all of which must hold:
                   eq, ne, in, not_in    equality with a scalar or with one of a list of scalars
                   exists                true: the path has a value; false: it has none
                   gt, gte, lt, lte      order against a number, or a string (lexicographic, which
                                         orders canonical ISO-8601 UTC datetimes and dates correctly)
                   prefix                the value is a string starting with this one

A ``<path>`` is a dotted payload path (``campaign.utm_source``) or an envelope field
(``$event.tenant_id``, see ``streams.field_paths.ENVELOPE_PATHS``).

What a filter means, precisely:

- An absent path and a null value are the same (canonical payloads leave null fields out): only
  ``exists: false``, ``eq: null``, ``ne`` and ``not_in`` hold for it, ``null`` in an ``in`` list
  matches it, and every other operator does not hold.
- Equality is JSON equality: ``true`` never equals ``1``, and ``1`` equals ``1.0``.
- An order or ``prefix`` against a value of another kind (a number against a string bound, say)
  does not hold; it is not an error, because a route must never stop a partition.

``compile_filter`` validates everything once, when the route is saved or loaded, and turns the
filter into closures: ``RouteFilter.matches`` runs for every event and every route, so it never
looks at the spec again; paths are pre-split, ``in`` lists are sets, and ANDs and ORs are chains of
short-circuiting ``and``/``or``. Errors name the offending place (``filter.$any[1].channel``) and
never a value from the filter, which may be personal data (a phone to match, say).
"""

from __future__ import annotations

import copy
import functools
import operator
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.errors import InvalidRouteError
from streams.field_paths import MISSING, Reader, check_path, reader

_Predicate = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
_Check = Callable[[Any], bool]

_ORDERS: Mapping[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_OPERATORS = ("eq", "ne", "in", "not_in", "exists", "gt", "gte", "lt", "lte", "prefix")


@dataclass(frozen=True, slots=True, eq=False)
class RouteFilter:
    """A compiled filter. ``spec`` is a copy of the filter as written, for display."""

    spec: Mapping[str, Any]
    _predicate: _Predicate = field(repr=False)

    def matches(self, payload: Mapping[str, Any], meta: Mapping[str, Any]) -> bool:
        """Whether an event goes through; ``meta`` maps envelope fields without ``$event.`` (``tenant_id``)."""
        return self._predicate(payload, meta)


def compile_filter(spec: Mapping[str, Any], *, paths: Collection[str] | None = None) -> RouteFilter:
    """``spec`` checked and compiled; with ``paths`` (what its type's payloads hold), every path is one.

    Raises ``InvalidRouteError`` whose ``field`` is where in the filter the problem is.
    """
    predicate = _compile(spec, paths, "filter")
    return RouteFilter(copy.deepcopy(spec), predicate)


def _compile(spec: Any, paths: Collection[str] | None, where: str) -> _Predicate:
    if not isinstance(spec, Mapping):
        raise InvalidRouteError(f"{where}: a filter must be an object", field=where)
    predicates = []
    for key, condition in spec.items():
        if key == "$any":
            predicates.append(_any_of(condition, paths, f"{where}.$any"))
        else:
            place = f"{where}.{key}"
            path = check_path(key, paths=paths, field=place)
            predicates.append(_on_path(reader(path), _condition(condition, place)))
    return _all_of(predicates)


def _always(payload: Mapping[str, Any], meta: Mapping[str, Any]) -> bool:
    return True


def _all_of(predicates: Sequence[_Predicate]) -> _Predicate:
    if not predicates:
        return _always
    return functools.reduce(_both, predicates)


def _both(first: _Predicate, second: _Predicate) -> _Predicate:
    return lambda payload, meta: first(payload, meta) and second(payload, meta)


def _either(first: _Predicate, second: _Predicate) -> _Predicate:
    return lambda payload, meta: first(payload, meta) or second(payload, meta)


def _any_of(filters: Any, paths: Collection[str] | None, where: str) -> _Predicate:
    if not isinstance(filters, list) or not filters:
        raise InvalidRouteError(f"{where}: $any must be a non-empty list of filters", field=where)
    return functools.reduce(_either, [_compile(sub, paths, f"{where}[{i}]") for i, sub in enumerate(filters)])


def _on_path(read: Reader, check: _Check) -> _Predicate:
    def holds(payload: Mapping[str, Any], meta: Mapping[str, Any]) -> bool:
        return check(read(payload, meta))

    return holds


def _condition(condition: Any, place: str) -> _Check:
    if condition is None or _is_scalar(condition):
        return _equal_to(condition)
    if not isinstance(condition, Mapping) or not condition:
        raise InvalidRouteError(
            f"{place}: a condition is a JSON scalar or an object of one or more operators", field=place
        )
    checks = [_operator(name, operand, place) for name, operand in condition.items()]
    return functools.reduce(_both_checks, checks)


def _operator(name: Any, operand: Any, place: str) -> _Check:
    if name in ("eq", "ne"):
        if operand is not None and not _is_scalar(operand):
            raise InvalidRouteError(f"{place}: {name} takes a string, number, boolean or null", field=place)
        equal = _equal_to(operand)
        return equal if name == "eq" else _negation(equal)
    if name in ("in", "not_in"):
        if not isinstance(operand, list) or not all(item is None or _is_scalar(item) for item in operand):
            raise InvalidRouteError(f"{place}: {name} takes a list of strings, numbers, booleans or null", field=place)
        member = _member_of(operand)
        return member if name == "in" else _negation(member)
    if name == "exists":
        if not isinstance(operand, bool):
            raise InvalidRouteError(f"{place}: exists takes true or false", field=place)
        return _presence(operand)
    if name in _ORDERS:
        if not isinstance(operand, (str, int, float)) or isinstance(operand, bool):
            raise InvalidRouteError(f"{place}: {name} takes a number or a string", field=place)
        return _ordered(_ORDERS[name], operand)
    if name == "prefix":
        if not isinstance(operand, str):
            raise InvalidRouteError(f"{place}: prefix takes a string", field=place)
        return _starting_with(operand)
    raise InvalidRouteError(f"{place}: {name!r} is not an operator; use one of {', '.join(_OPERATORS)}", field=place)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float))


def _equal_to(expected: Any) -> _Check:
    if expected is None:
        return lambda value: value is MISSING
    expects_bool = isinstance(expected, bool)
    return lambda value: value == expected and isinstance(value, bool) is expects_bool


def _member_of(items: list[Any]) -> _Check:
    # Booleans apart, so that true is not found among 1s (True == 1 in Python, not in JSON).
    booleans = frozenset(item for item in items if isinstance(item, bool))
    others = frozenset(item for item in items if item is not None and not isinstance(item, bool))
    takes_missing = any(item is None for item in items)

    def member(value: Any) -> bool:
        if value is MISSING:
            return takes_missing
        if isinstance(value, bool):
            return value in booleans
        return isinstance(value, (str, int, float)) and value in others

    return member


def _presence(wanted: bool) -> _Check:
    return lambda value: (value is not MISSING) is wanted


def _ordered(compare: Callable[[Any, Any], bool], bound: str | float) -> _Check:
    if isinstance(bound, str):
        return lambda value: isinstance(value, str) and compare(value, bound)
    return lambda value: isinstance(value, (int, float)) and not isinstance(value, bool) and compare(value, bound)


def _starting_with(prefix: str) -> _Check:
    return lambda value: isinstance(value, str) and value.startswith(prefix)


def _both_checks(first: _Check, second: _Check) -> _Check:
    return lambda value: first(value) and second(value)


def _negation(check: _Check) -> _Check:
    return lambda value: not check(value)
