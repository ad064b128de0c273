"""Route mappings: a small JSON language, stored with each route, that turns an event into a request body.

Like filters (``streams.route_filter``) a mapping is data, edited by tenants and kept in PostgreSQL,
so it is validated when saved and compiled once; ``CompiledMapping.apply`` then runs per event::

    {
      "fields": {"<out path>": <field>, ...},   dotted out paths build nested objects: "customer.name"
      "include": "none" | "payload",           "payload": start from a copy of the payload, then drop,
                                                then set the fields; "none": only the fields
      "drop": ["<payload path>", ...]           removed from the copied payload (include "payload" only)
    }

    <field> := {"from": "<path>", "format": "<format>"?, "default": <json>?, "optional": true?}
             | {"template": "Olá {name|first_name}, tudo bem?", "optional": true?}
             | {"const": <json>}

``include`` defaults to ``"none"`` when ``fields`` is given and to ``"payload"`` otherwise, so ``{}``
is the payload as it is and ``{"drop": ["cpf"]}`` the payload without the CPF.

A source (``from``, or a placeholder ``{path}`` / ``{path|format}``) is a payload path or an envelope
field such as ``$event.id``; absent and null are the same. When it is missing, ``from`` uses its
``default`` (as written, not formatted) or, when ``optional``, leaves the output field out; an optional
template is left out when any of its placeholders is missing. Otherwise the event raises
``MappingError`` and goes to the DLQ. A placeholder without a format is rendered by ``string``; write
literal braces as ``{{`` and ``}}``. A dotted out path replaces a non-object value in its way.

Formats (``FORMATS``), each giving a string:

    phone_e164        +5511987654321    from E.164 or any Brazilian form streams.phone accepts
    phone_digits      5511987654321     what Z-API and WAHA take as a phone
    whatsapp_chat_id  5511987654321@c.us    WAHA's chatId for a one-to-one chat
    date              2026-03-05        the calendar date in São Paulo (America/Sao_Paulo)
    date_br           05/03/2026        the same date, written the Brazilian way
    datetime          2026-03-05T22:00:00Z  the instant in UTC, to the second
    time_br           19:00             the wall-clock time in São Paulo
    upper, lower      MARIA, maria
    title             Maria Aparecida da Silva  each word capitalised; da, das, de, do, dos, e kept low
    first_name        Maria             the first word, capitalised
    string            text as is; numbers as JSON writes them; true/false
    cents_to_decimal  12.50             from integer cents (1250)
    cents_to_brl      R$ 1.234,56       from integer cents (123456)

Dates and times are São Paulo's because they are read by people there: a visit that ends at
``2026-03-06T02:30:00Z`` ended on 05/03/2026 at 23:30 for the family. ``datetime`` stays UTC because
it is for machines. Date formats take ISO-8601 datetimes with an offset (canonical payloads hold UTC)
or plain dates (``2026-03-05``), which are taken as they are.

Errors name the output field (``MappingError``) or the place in the spec (``InvalidRouteError``,
e.g. ``mapping.fields.message.format``) and the rule, never a value: values are personal data.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from string import Formatter
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from streams.errors import InvalidRouteError, MappingError
from streams.field_paths import ENVELOPE_PREFIX, MISSING, Reader, check_path, reader
from streams.phone import normalise_phone

_SAO_PAULO = ZoneInfo("America/Sao_Paulo")
_PARTICLES = frozenset({"da", "das", "de", "do", "dos", "e"})

_Value = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
_Writer = Callable[[Mapping[str, Any], Mapping[str, Any], dict[str, Any]], None]
_Format = tuple[str, Callable[[Any], str]]


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError("takes a string, number or boolean, not an object or list")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("takes text")
    return value


_E164 = re.compile(r"\+[1-9]\d{7,14}")


def _phone_e164(value: Any) -> str:
    if type(value) is str and _E164.fullmatch(value):  # canonical payloads: already E.164
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    try:
        return normalise_phone(_text(value))
    except ValueError as exc:
        raise ValueError(f"takes a phone number: {exc}") from None


def _instant(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            # The parser's own message quotes the input.
            raise ValueError("takes an ISO-8601 datetime") from None
    if not isinstance(value, datetime):
        raise ValueError("takes an ISO-8601 datetime")
    if value.tzinfo is None:
        raise ValueError("takes a datetime with a UTC offset")
    return value


def _local_date(value: Any) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(value, date) and not isinstance(value, datetime):
        return value
    return _instant(value).astimezone(_SAO_PAULO).date()


def _capitalised(word: str) -> str:
    return "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))


def _title(value: Any) -> str:
    words = _text(value).split()
    return " ".join(
        word.lower() if index and word.lower() in _PARTICLES else _capitalised(word) for index, word in enumerate(words)
    )


def _first_name(value: Any) -> str:
    words = _text(value).split()
    if not words:
        raise ValueError("takes a name with at least one word")
    return _capitalised(words[0])


def _reais_and_cents(value: Any) -> tuple[str, int, int]:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("takes whole cents as an integer")
    reais, cents = divmod(abs(value), 100)
    return ("-" if value < 0 else ""), reais, cents


def _cents_to_decimal(value: Any) -> str:
    sign, reais, cents = _reais_and_cents(value)
    return f"{sign}{reais}.{cents:02d}"


def _cents_to_brl(value: Any) -> str:
    sign, reais, cents = _reais_and_cents(value)
    return f"{sign}R$ {reais:,}".replace(",", ".") + f",{cents:02d}"


FORMATS: Mapping[str, Callable[[Any], str]] = MappingProxyType(
    {
        "phone_e164": _phone_e164,
        "phone_digits": lambda value: _phone_e164(value).removeprefix("+"),
        "whatsapp_chat_id": lambda value: _phone_e164(value).removeprefix("+") + "@c.us",
        "date": lambda value: _local_date(value).isoformat(),
        "date_br": lambda value: _local_date(value).strftime("%d/%m/%Y"),
        "datetime": lambda value: _instant(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "time_br": lambda value: _instant(value).astimezone(_SAO_PAULO).strftime("%H:%M"),
        "upper": lambda value: _text(value).upper(),
        "lower": lambda value: _text(value).lower(),
        "title": _title,
        "first_name": _first_name,
        "string": _string,
        "cents_to_decimal": _cents_to_decimal,
        "cents_to_brl": _cents_to_brl,
    }
)
"""Format name to a function of one value giving a string; ``ValueError`` names the rule, never the value."""

_FIELD_KEYS = {
    "from": frozenset({"from", "format", "default", "optional"}),
    "template": frozenset({"template", "optional"}),
    "const": frozenset({"const"}),
}


@dataclass(frozen=True, slots=True, eq=False)
class CompiledMapping:
    """A compiled mapping. ``spec`` is a copy of the mapping as written, for display."""

    spec: Mapping[str, Any]
    _include_payload: bool = field(repr=False)
    _drops: tuple[tuple[str, ...], ...] = field(repr=False)
    _writers: tuple[_Writer, ...] = field(repr=False)

    def apply(self, payload: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
        """A new request body for this event; ``payload`` is left as it was. Raises ``MappingError``."""
        body: dict[str, Any] = _json_copy(payload) if self._include_payload else {}
        for keys in self._drops:
            _remove(body, keys)
        for write in self._writers:
            write(payload, meta, body)
        return body


def compile_mapping(spec: Mapping[str, Any], *, paths: Collection[str] | None = None) -> CompiledMapping:
    """``spec`` checked and compiled; with ``paths`` (what its type's payloads hold), every source is one.

    Raises ``InvalidRouteError`` whose ``field`` is where in the mapping the problem is.
    """
    if not isinstance(spec, Mapping):
        raise InvalidRouteError("mapping: a mapping must be an object", field="mapping")
    for key in spec:
        if key not in ("fields", "include", "drop"):
            raise InvalidRouteError(
                f"mapping.{key}: is not a key of a mapping; use fields, include or drop", field=f"mapping.{key}"
            )
    fields = spec.get("fields", {})
    if not isinstance(fields, Mapping):
        raise InvalidRouteError("mapping.fields: must be an object of output fields", field="mapping.fields")
    include = spec.get("include", "none" if "fields" in spec else "payload")
    if include not in ("none", "payload"):
        raise InvalidRouteError("mapping.include: must be none or payload", field="mapping.include")
    if include == "none" and not fields:
        raise InvalidRouteError(
            "mapping.fields: must name at least one field when include is none", field="mapping.fields"
        )
    drops = _drops(spec.get("drop", []), include, paths)
    _refuse_overlapping(fields)
    writers = tuple(_writer(out, _field(out, field_spec, paths)) for out, field_spec in fields.items())
    return CompiledMapping(copy.deepcopy(spec), include == "payload", drops, writers)


def _drops(drop: Any, include: str, paths: Collection[str] | None) -> tuple[tuple[str, ...], ...]:
    if not isinstance(drop, list):
        raise InvalidRouteError("mapping.drop: must be a list of payload paths", field="mapping.drop")
    if drop and include != "payload":
        raise InvalidRouteError("mapping.drop: is allowed only when include is payload", field="mapping.drop")
    dropped = []
    for index, path in enumerate(drop):
        place = f"mapping.drop[{index}]"
        if check_path(path, paths=paths, field=place).startswith(ENVELOPE_PREFIX):
            raise InvalidRouteError(f"{place}: drop removes payload fields, not envelope fields", field=place)
        dropped.append(tuple(path.split(".")))
    return tuple(dropped)


def _refuse_overlapping(fields: Mapping[str, Any]) -> None:
    for out in fields:
        place = f"mapping.fields.{out}"
        if not isinstance(out, str) or not all(out.split(".")):
            raise InvalidRouteError(f"{place}: an output path is names joined by dots", field=place)
    for out in fields:
        for other in fields:
            if out.startswith(other + "."):
                place = f"mapping.fields.{out}"
                raise InvalidRouteError(
                    f"{place}: is inside output field {other}, which it would overwrite", field=place
                )


def _field(out: str, spec: Any, paths: Collection[str] | None) -> _Value:
    place = f"mapping.fields.{out}"
    kinds = [kind for kind in _FIELD_KEYS if isinstance(spec, Mapping) and kind in spec]
    if len(kinds) != 1:
        raise InvalidRouteError(f"{place}: a field is an object with one of from, template or const", field=place)
    (kind,) = kinds
    for key in spec:
        if key not in _FIELD_KEYS[kind]:
            allowed = ", ".join(sorted(_FIELD_KEYS[kind]))
            raise InvalidRouteError(f"{place}.{key}: a {kind} field takes only {allowed}", field=f"{place}.{key}")
    optional = spec.get("optional", False)
    if not isinstance(optional, bool):
        raise InvalidRouteError(f"{place}.optional: must be true or false", field=f"{place}.optional")
    if kind == "from":
        return _copied(out, spec, optional, place, paths)
    if kind == "template":
        return _templated(out, spec["template"], optional, place, paths)
    const = spec["const"]
    return lambda payload, meta: _json_copy(const)


def _copied(out: str, spec: Mapping[str, Any], optional: bool, place: str, paths: Collection[str] | None) -> _Value:
    path = check_path(spec["from"], paths=paths, field=f"{place}.from")
    read = reader(path)
    convert = _format(spec["format"], f"{place}.format") if "format" in spec else None
    has_default, default = "default" in spec, spec.get("default")
    if has_default and optional:
        raise InvalidRouteError(f"{place}: default and optional exclude each other", field=place)

    def value(payload: Mapping[str, Any], meta: Mapping[str, Any]) -> Any:
        found = read(payload, meta)
        if found is MISSING:
            if has_default:
                return _json_copy(default)
            if optional:
                return MISSING
            raise MappingError(f"{out}: source field {path} is missing", field=out)
        return _json_copy(found) if convert is None else _formatted(convert, found, out)

    return value


def _templated(out: str, template: Any, optional: bool, place: str, paths: Collection[str] | None) -> _Value:
    where = f"{place}.template"
    if not isinstance(template, str):
        raise InvalidRouteError(f"{where}: must be a string", field=where)
    try:
        parsed = list(Formatter().parse(template))
    except ValueError:
        raise InvalidRouteError(
            f"{where}: has an unmatched brace; write literal braces as {{{{ and }}}}", field=where
        ) from None
    parts: list[tuple[str, Reader | None, str, _Format]] = []
    for literal, name, format_spec, conversion in parsed:
        if name is None:
            parts.append((literal, None, "", ("string", _string)))
            continue
        if format_spec or conversion is not None:
            raise InvalidRouteError(f"{where}: placeholders are {{path}} or {{path|format}}", field=where)
        path, bar, format_name = name.partition("|")
        check_path(path, paths=paths, field=where)
        convert = _format(format_name, where) if bar else ("string", _string)
        parts.append((literal, reader(path), path, convert))
    pieces = tuple(parts)

    def value(payload: Mapping[str, Any], meta: Mapping[str, Any]) -> Any:
        text = []
        for literal, read, path, convert in pieces:
            text.append(literal)
            if read is None:
                continue
            found = read(payload, meta)
            if found is MISSING:
                if optional:
                    return MISSING
                raise MappingError(f"{out}: source field {path} of the template is missing", field=out)
            text.append(_formatted(convert, found, out))
        return "".join(text)

    return value


def _format(name: Any, where: str) -> _Format:
    if not isinstance(name, str) or name not in FORMATS:
        raise InvalidRouteError(f"{where}: is not a format; use one of {', '.join(FORMATS)}", field=where)
    return name, FORMATS[name]


def _formatted(convert: _Format, value: Any, out: str) -> str:
    name, function = convert
    try:
        return function(value)
    except ValueError as exc:
        raise MappingError(f"{out}: format {name} {exc}", field=out) from None


def _writer(out: str, value: _Value) -> _Writer:
    *parents, last = out.split(".")
    if not parents:  # most fields: no nesting to walk

        def write_top(payload: Mapping[str, Any], meta: Mapping[str, Any], body: dict[str, Any]) -> None:
            result = value(payload, meta)
            if result is not MISSING:
                body[last] = result

        return write_top

    def write(payload: Mapping[str, Any], meta: Mapping[str, Any], body: dict[str, Any]) -> None:
        result = value(payload, meta)
        if result is MISSING:
            return
        node = body
        for key in parents:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[last] = result

    return write


def _remove(body: dict[str, Any], keys: tuple[str, ...]) -> None:
    node: Any = body
    for key in keys[:-1]:
        node = node.get(key)
        if not isinstance(node, dict):
            return
    node.pop(keys[-1], None)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _json_copy(value: Any) -> Any:
    # Payloads are JSON: copying dicts and lists is all a deep copy needs, at a fraction of its cost.
    if type(value) in _SCALARS:  # the common case, without the slow ABC check below
        return value
    if isinstance(value, Mapping):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value
