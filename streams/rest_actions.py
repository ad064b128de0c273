"""A REST endpoint's actions (config ``actions``): each a method and a path template filled from the payload.

    {"actions": {"upsert_appointment": {"method": "PUT", "path": "/v1/appointments/{id}"},
                 "open_ticket": {"method": "POST", "path": "/v1/tickets"}}}

A route names one as ``rest.<name>``. Pure, so the route repository checks a route's action
against its endpoint with the same rules the connector (``connectors.destinations.rest``) sends by.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from streams.errors import ConfigurationError, PermanentDeliveryError

METHODS = ("POST", "PUT", "PATCH", "DELETE")
PREFIX = "rest."
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class RestAction:
    """One configured action: its method, its path template and the payload fields the path needs."""

    method: str
    path: str
    fields: tuple[str, ...]

    def path_for(self, action: str, payload: Mapping[str, Any]) -> str:
        values = {}
        for name in self.fields:
            value = payload.get(name)
            if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
                raise PermanentDeliveryError(f"{action} needs {name!r} as text or a number in its payload")
            values[name] = quote(str(value), safe="")
        return self.path.format(**values)


def rest_actions(config: Mapping[str, Any]) -> Mapping[str, RestAction]:
    """Config ``actions`` read and checked; ConfigurationError names the action and what is wrong."""
    given = config.get("actions")
    if not isinstance(given, Mapping) or not given:
        raise ConfigurationError("actions must be an object naming at least one action")
    actions = {}
    for name, spec in given.items():
        if not isinstance(name, str) or _NAME.fullmatch(name) is None:
            raise ConfigurationError(f"actions: {name!r} must be lower-case letters, digits and _")
        if not isinstance(spec, Mapping) or spec.get("method") not in METHODS:
            raise ConfigurationError(f"actions.{name}.method must be one of {', '.join(METHODS)}")
        path = spec.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigurationError(f"actions.{name}.path must start with /")
        actions[name] = RestAction(spec["method"], path, _fields(name, path))
    return actions


def _fields(name: str, path: str) -> tuple[str, ...]:
    try:
        parts = list(string.Formatter().parse(path))
    except ValueError:
        raise ConfigurationError(f"actions.{name}.path has an unbalanced brace") from None
    fields = tuple(field for _, field, _, _ in parts if field is not None)
    for _, field, spec, conversion in parts:
        if field is not None and (_FIELD.fullmatch(field) is None or spec or conversion):
            raise ConfigurationError(f"actions.{name}.path: placeholders are plain field names, like {{id}}")
    return fields


def action_named(actions: Mapping[str, RestAction], action: str) -> RestAction | None:
    """The configured action a route's ``rest.<name>`` names, or None."""
    return actions.get(action.removeprefix(PREFIX)) if action.startswith(PREFIX) else None
