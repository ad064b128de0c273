"""Routes in PostgreSQL (``event_mappings``): add, list, enable, disable, and load them for workers.

A route is checked when it is saved, by compiling its filter and mapping against its event type,
so a typo in a field path is refused at ``crmbus routes add`` instead of silently matching
nothing in production. Workers then poll ``fingerprint`` (one cheap query) and call
``load_enabled`` only when it changed.

Every change bumps the route's ``version`` and ``updated_at``; the fingerprint does not rely on
that alone (see ``fingerprint``).

A route to a destination that lacks its credential (``streams.credentials``) is *paused*: added
disabled, refused when enabled, and never loaded for a worker, so no delivery is made only to be
dead-lettered as misconfigured. Supplying the credential resumes it (``infra.db.endpoints``).
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, String, and_, cast, func, literal_column, select
from sqlalchemy.orm import Session

from infra.db.audit import audit
from infra.db.endpoints import missing_of
from infra.db.errors import translated
from infra.db.models import Base, EventMapping, Tenant, WebhookEndpoint
from schemas.event_types import built_in_catalogue
from streams.credentials import describe_missing, setup_command
from streams.errors import ConfigurationError, InvalidRouteError
from streams.event_catalogue import EventCatalogue
from streams.mapping import compile_mapping
from streams.rest_actions import action_named, rest_actions
from streams.route_filter import compile_filter
from streams.routes import DESTINATIONS, Route

log = logging.getLogger(__name__)

MAX_DELAY = timedelta(days=7)
"""The longest a route may delay its action: crmbus.scheduled keeps records for 14 days, and a
delayed action must still be there, with room for a worker outage, when it falls due."""

_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class RouteView:
    """A route as stored; ``destination`` is the name of the tenant's endpoint."""

    id: uuid.UUID
    tenant_id: str
    event_type: str
    destination: str
    action: str
    filter: dict[str, Any]
    mapping: dict[str, Any]
    delay_seconds: int
    enabled: bool
    version: int
    paused: str | None = None
    """Why no event takes this route until its destination is configured, with the command that
    configures it; ``None`` when its destination has what it needs."""

    @classmethod
    def of(cls, row: EventMapping, endpoint: WebhookEndpoint) -> RouteView:
        return cls(
            row.id, row.tenant_id, row.event_type, endpoint.name, row.action, row.filter, row.mapping,
            row.delay_seconds, row.enabled, row.version, paused_reason(endpoint),
        )  # fmt: skip


def paused_reason(endpoint: WebhookEndpoint) -> str | None:
    """Why routes to ``endpoint`` are paused (what it lacks and how to set it), or ``None``."""
    missing = missing_of(endpoint)
    if not missing:
        return None
    command = setup_command(endpoint.tenant_id, endpoint.name, missing)
    return f"destination {endpoint.name}: {describe_missing(endpoint.kind, missing)}; set it with: {command}"


class Routes:
    def __init__(
        self, engine: Engine, actor: str = "cli", types: Callable[[], EventCatalogue] = built_in_catalogue
    ) -> None:
        """``types`` gives the event types routes are checked against when added."""
        self.engine = engine
        self.actor = actor
        self._types = types

    @translated("adding a route")
    def add(
        self,
        tenant_id: str,
        event_type: str,
        destination: str,
        action: str,
        *,
        filter: Mapping[str, Any] | None = None,
        mapping: Mapping[str, Any] | None = None,
        delay_seconds: int = 0,
    ) -> RouteView:
        """A new route of ``tenant_id`` to its endpoint named ``destination``: enabled, or paused
        (disabled, with ``paused`` saying why) when that endpoint lacks its credential.

        ``filter`` defaults to every event and ``mapping`` to the payload as it is. Raises
        ``InvalidRouteError`` naming the field (``event_type``, ``destination``, ``action``,
        ``delay_seconds``, or the place in the filter or mapping), ``ConfigurationError`` for an
        unknown tenant.
        """
        catalogue = self._types()
        if not catalogue.knows(tenant_id, event_type):
            known = ", ".join(sorted({t.name for t in catalogue.types(tenant_id)}))
            raise InvalidRouteError(f"event_type: is not a known event type; one of {known}", field="event_type")
        paths = catalogue.paths(tenant_id, event_type)
        compiled_filter = compile_filter({} if filter is None else filter, paths=paths)
        compiled_mapping = compile_mapping({} if mapping is None else mapping, paths=paths)
        _check_action(action)
        _check_delay(delay_seconds)
        with Session(self.engine) as session, session.begin():
            if session.get(Tenant, tenant_id) is None:
                raise ConfigurationError(f"no tenant {tenant_id!r}; create it with 'crmbus tenants create'")
            endpoint = _endpoint(session, tenant_id, destination)
            _check_endpoint_action(endpoint, action)
            row = EventMapping(
                tenant_id=tenant_id,
                event_type=event_type,
                endpoint_id=endpoint.id,
                action=action,
                filter=dict(compiled_filter.spec),
                mapping=dict(compiled_mapping.spec),
                delay_seconds=delay_seconds,
                enabled=not missing_of(endpoint),
            )
            session.add(row)
            session.flush()
            session.refresh(row)
            audit(
                session,
                actor=self.actor,
                tenant_id=tenant_id,
                action="route.add",
                target_type="route",
                target_id=str(row.id),
                details={"event_type": event_type, "destination": destination, "action": action},
            )
            return RouteView.of(row, endpoint)

    @translated("listing routes")
    def list(
        self, tenant_id: str | None = None, event_type: str | None = None, include_disabled: bool = False
    ) -> list[RouteView]:
        query = (
            select(EventMapping, WebhookEndpoint)
            .join(WebhookEndpoint, EventMapping.endpoint_id == WebhookEndpoint.id)
            .order_by(EventMapping.tenant_id, EventMapping.event_type, WebhookEndpoint.name, EventMapping.created_at)
        )
        if tenant_id is not None:
            query = query.where(EventMapping.tenant_id == tenant_id)
        if event_type is not None:
            query = query.where(EventMapping.event_type == event_type)
        if not include_disabled:
            query = query.where(EventMapping.enabled)
        with Session(self.engine) as session:
            return [RouteView.of(row, endpoint) for row, endpoint in session.execute(query).tuples()]

    @translated("reading a route")
    def get(self, route_id: uuid.UUID) -> RouteView:
        with Session(self.engine) as session:
            row = _route(session, route_id)
            return RouteView.of(row, _endpoint_of(session, row))

    @translated("disabling a route")
    def disable(self, route_id: uuid.UUID) -> RouteView:
        """Stop a route; workers drop it at their next poll. Disabling a disabled route changes nothing."""
        return self._set_enabled(route_id, False)

    @translated("enabling a route")
    def enable(self, route_id: uuid.UUID) -> RouteView:
        """Start a route again; ``ConfigurationError`` while its destination lacks its credential."""
        return self._set_enabled(route_id, True)

    @translated("loading routes")
    def load_enabled(self, tenant_id: str | None = None, event_type: str | None = None) -> builtins.list[Route]:
        """Every route a worker applies, compiled: enabled, of an active tenant, to an enabled endpoint
        that has its credential (one stored before that was checked is left out with a warning).

        A stored route that no longer compiles (say, a field its event type has since lost) is
        left out with a warning naming its id and the offending place: one bad row must not stop
        every tenant's routing.
        """
        query = (
            select(EventMapping, WebhookEndpoint)
            .join(
                WebhookEndpoint,
                # The endpoint's tenant is checked again: a route never sends to another tenant's endpoint.
                and_(
                    EventMapping.endpoint_id == WebhookEndpoint.id, WebhookEndpoint.tenant_id == EventMapping.tenant_id
                ),
            )
            .join(Tenant, Tenant.id == EventMapping.tenant_id)
            .where(EventMapping.enabled, WebhookEndpoint.enabled, Tenant.status == _ACTIVE)
        )
        if tenant_id is not None:
            query = query.where(EventMapping.tenant_id == tenant_id)
        if event_type is not None:
            query = query.where(EventMapping.event_type == event_type)
        with Session(self.engine) as session:
            rows = session.execute(query).tuples().all()
        routes, paused = [], Counter[WebhookEndpoint]()
        catalogue = self._types()
        for row, endpoint in rows:
            if missing_of(endpoint):
                paused[endpoint] += 1
                continue
            try:
                routes.append(_compiled(row, endpoint.kind, catalogue.paths(row.tenant_id, row.event_type)))
            except InvalidRouteError as exc:
                log.warning("route %s skipped, it no longer compiles: %s", row.id, exc)
        for endpoint, count in paused.items():  # one line per destination, not one per route
            log.warning("%d routes skipped, paused: %s", count, paused_reason(endpoint))
        return routes

    @translated("fingerprinting routes")
    def fingerprint(self) -> str:
        """A short digest that changes whenever what ``load_enabled`` returns may have changed.

        One query over the three tables routes depend on. Each table contributes its row count
        and the sum of a hash of the columns that matter, per row: an insert, a delete, a
        disable or an edit changes the sum, whether or not the writer remembered to bump
        ``version`` or ``updated_at``, and deletes, which leave no ``updated_at`` behind, too.
        """
        summary = select(
            _summary(
                EventMapping, EventMapping.id, EventMapping.version, EventMapping.enabled, EventMapping.updated_at
            ),
            _summary(
                WebhookEndpoint,
                WebhookEndpoint.id,
                WebhookEndpoint.enabled,
                WebhookEndpoint.kind,
                WebhookEndpoint.updated_at,
            ),
            _summary(Tenant, Tenant.id, Tenant.status),
        )
        with Session(self.engine) as session:
            parts = session.execute(summary).one()
        return hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()[:32]

    def _set_enabled(self, route_id: uuid.UUID, enabled: bool) -> RouteView:
        with Session(self.engine) as session, session.begin():
            row = _route(session, route_id)
            endpoint = _endpoint_of(session, row)
            paused = paused_reason(endpoint)
            if enabled and paused is not None:
                raise ConfigurationError(f"route {row.id} stays paused: {paused}")
            if row.enabled != enabled:
                row.enabled = enabled
                row.version = EventMapping.version + 1
                row.updated_at = func.now()
                session.flush()
                session.refresh(row)
                audit(
                    session,
                    actor=self.actor,
                    tenant_id=row.tenant_id,
                    action="route.enable" if enabled else "route.disable",
                    target_type="route",
                    target_id=str(row.id),
                )
            return RouteView.of(row, endpoint)


def _summary(model: type[Base], *columns: Any) -> Any:
    """``<count>:<sum of hashtext(columns)>`` over ``model``'s table, as a scalar subquery."""
    text_of_row = func.concat_ws(":", *(cast(column, String) for column in columns))
    return (
        select(func.concat(func.count(), ":", func.coalesce(func.sum(func.hashtext(text_of_row)), literal_column("0"))))
        .select_from(model)
        .scalar_subquery()
    )


def _compiled(row: EventMapping, kind: str, paths: frozenset[str]) -> Route:
    if kind not in DESTINATIONS:
        raise InvalidRouteError("destination: its endpoint is of no known kind", field="destination")
    return Route(
        id=str(row.id),
        tenant_id=row.tenant_id,
        event_type=row.event_type,
        destination=kind,
        endpoint_id=str(row.endpoint_id),
        action=row.action,
        filter=compile_filter(row.filter, paths=paths),
        mapping=compile_mapping(row.mapping, paths=paths),
        delay_seconds=row.delay_seconds,
        version=row.version,
    )


def _check_action(action: str) -> None:
    if len(action) > 100 or _ACTION.fullmatch(action) is None:
        raise InvalidRouteError(
            "action: is the destination's operation, like crm.upsert_lead: lower-case words joined by dots",
            field="action",
        )


def _check_endpoint_action(endpoint: WebhookEndpoint, action: str) -> None:
    """A rest endpoint's routes name one of its configured actions; other kinds' actions are fixed
    by their connector, which dead-letters a name it does not know."""
    if endpoint.kind != "rest":
        return
    try:
        actions = rest_actions(endpoint.config)
    except ConfigurationError as exc:
        raise InvalidRouteError(f"destination: its config is invalid: {exc}", field="destination") from None
    if action_named(actions, action) is None:
        known = ", ".join(f"rest.{name}" for name in sorted(actions))
        raise InvalidRouteError(f"action: is not one of this destination's actions ({known})", field="action")


def _check_delay(delay_seconds: int) -> None:
    if isinstance(delay_seconds, bool) or not 0 <= delay_seconds <= MAX_DELAY.total_seconds():
        raise InvalidRouteError(
            f"delay_seconds: must be from 0 to {int(MAX_DELAY.total_seconds())} (7 days)", field="delay_seconds"
        )


def _endpoint(session: Session, tenant_id: str, name: str) -> WebhookEndpoint:
    endpoints = {
        row.name: row for row in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id))
    }
    endpoint = endpoints.get(name)
    if endpoint is None:
        known = ", ".join(sorted(endpoints)) or "none yet"
        raise InvalidRouteError(
            f"destination: the tenant has no destination of that name (it has: {known})", field="destination"
        )
    if endpoint.kind not in DESTINATIONS:
        raise InvalidRouteError(f"destination: its kind is not one of {', '.join(DESTINATIONS)}", field="destination")
    return endpoint


def _route(session: Session, route_id: uuid.UUID) -> EventMapping:
    row = session.get(EventMapping, route_id)
    if row is None:
        raise ConfigurationError(f"no route {route_id}")
    return row


def _endpoint_of(session: Session, row: EventMapping) -> WebhookEndpoint:
    return session.get_one(WebhookEndpoint, row.endpoint_id)
