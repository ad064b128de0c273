"""Routes and fan-out: which destinations act on an event, and with which request.

A route belongs to one tenant and one event type; its filter decides whether an event is for it
and its mapping turns the payload into the destination's request. ``fan_out`` is the router's
whole decision for one event, pure and deterministic: the same event always yields the same
delivery ids (``delivery_id``), payloads and due times, so a replay or a re-run after a crash
produces duplicates that the sinks recognise, never new work.

Tenant isolation lives in ``RouteBook``: routes are indexed by (tenant, event type) and an event
only ever meets the routes of its own tenant.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from streams.envelope import Envelope
from streams.errors import MappingError

DESTINATIONS = (
    "crm", "financeiro", "zapi", "waha", "email", "marketing", "webhook", "sms_twilio", "sms_zenvia", "rest",
)  # fmt: skip
"""Destination kinds; each has its topic ``crmbus.deliver.<destination>`` and its sink."""

_DELIVERY_NAMESPACE = uuid.UUID("6f0e9a52-4a8b-5c1e-9d0e-63726d627573")


class Filter(Protocol):
    def matches(self, payload: Mapping[str, Any], meta: Mapping[str, Any]) -> bool: ...


class Mapper(Protocol):
    def apply(self, payload: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Route:
    """One enabled route, compiled: the row of ``event_mappings`` joined with its endpoint."""

    id: str
    tenant_id: str
    event_type: str
    destination: str
    endpoint_id: str
    action: str
    filter: Filter
    mapping: Mapper
    delay_seconds: int = 0
    version: int = 1


class RouteBook:
    """Every enabled route, indexed by (tenant, event type); ``version`` says which load it is."""

    __slots__ = ("_by_id", "_by_key", "_count", "version")

    def __init__(self, routes: Iterable[Route], version: str = "") -> None:
        by_key: defaultdict[tuple[str, str], list[Route]] = defaultdict(list)
        self._by_id: dict[str, Route] = {}
        count = 0
        for route in routes:
            by_key[(route.tenant_id, route.event_type)].append(route)
            self._by_id[route.id] = route
            count += 1
        self._by_key = {key: tuple(sorted(found, key=lambda r: r.id)) for key, found in by_key.items()}
        self._count = count
        self.version = version

    def routes_for(self, tenant_id: str, event_type: str) -> tuple[Route, ...]:
        return self._by_key.get((tenant_id, event_type), ())

    def route(self, route_id: str) -> Route | None:
        return self._by_id.get(route_id)

    def __len__(self) -> int:
        return self._count


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """One action for one destination, ready to become a ``Delivery`` record."""

    delivery_id: str
    route: Route
    payload: dict[str, Any]
    not_before: datetime | None
    """When the action is due; None means now. Delayed routes count from the event's arrival."""


@dataclass(frozen=True, slots=True)
class RouteFailure:
    route: Route
    error: MappingError


@dataclass(frozen=True, slots=True)
class FanOut:
    deliveries: tuple[PlannedDelivery, ...]
    failures: tuple[RouteFailure, ...]


_NAMESPACE_BYTES = _DELIVERY_NAMESPACE.bytes


def delivery_id(event_id: uuid.UUID | str, route_id: str) -> str:
    """The id of what ``route_id`` does for ``event_id``: the same on every replay.

    A UUID v5 (RFC 9562) in ``_DELIVERY_NAMESPACE``, computed without building ``uuid.UUID``
    objects: this runs for every delivery of every event.
    """
    digest = bytearray(
        hashlib.sha1(_NAMESPACE_BYTES + f"{event_id}/{route_id}".encode(), usedforsecurity=False).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def event_meta(envelope: Envelope) -> dict[str, Any]:
    """The envelope fields filters and mappings may read as ``$event.<name>``."""
    return {
        "id": str(envelope.event_id),
        "type": envelope.type,
        "tenant_id": envelope.tenant_id,
        "source": envelope.source,
        "occurred_at": envelope.occurred_at.isoformat().replace("+00:00", "Z"),
        "correlation_id": envelope.correlation_id,
    }


def fan_out(envelope: Envelope, routes: Iterable[Route], redelivery: str | None = None) -> FanOut:
    """What each route makes of ``envelope``: a delivery when its filter passes, or a failure.

    Delivery ids are the same on every run, unless ``redelivery`` names a replay asked to deliver
    again: its deliveries get ids of their own, the same on every run of that replay.

    One failing mapping does not stop the others: its route is reported so the event can go to
    the DLQ for that route alone.
    """
    payload = envelope.payload
    meta = event_meta(envelope)
    event_id = meta["id"]
    deliveries: list[PlannedDelivery] = []
    failures: list[RouteFailure] = []
    for route in routes:
        if route.tenant_id != envelope.tenant_id or route.event_type != envelope.type:
            continue  # a route never sees another tenant's events, whoever built the list
        if not route.filter.matches(payload, meta):
            continue
        try:
            mapped = route.mapping.apply(payload, meta)
        except MappingError as error:
            failures.append(RouteFailure(route, error))
            continue
        due = envelope.received_at + timedelta(seconds=route.delay_seconds) if route.delay_seconds > 0 else None
        of = route.id if redelivery is None else f"{route.id}/{redelivery}"
        deliveries.append(PlannedDelivery(delivery_id(event_id, of), route, mapped, due))
    return FanOut(tuple(deliveries), tuple(failures))
