"""The built-in event types as specs use them: validate a payload, list a type's paths."""

import copy
from collections.abc import Mapping
from typing import Any

from schemas.event_types import built_in_catalogue

CATALOGUE = built_in_catalogue()
TENANT = "spec-tenant"


def validate_payload(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    return CATALOGUE.validate(TENANT, event_type, payload)


def paths(event_type: str) -> frozenset[str]:
    return CATALOGUE.paths(TENANT, event_type)


def example(event_type: str) -> dict[str, Any]:
    """A copy of the example payload the built-in type's file ships."""
    found = CATALOGUE.get(TENANT, event_type)
    assert found is not None and found.example is not None, event_type
    return copy.deepcopy(dict(found.example))
