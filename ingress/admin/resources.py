"""The admin API's resources: each handler, and the route table that names their scopes.

Handlers see a ``Call`` that is authenticated and authorised for its tenant already
(``ingress.admin.table``); they answer what the repositories did, as JSON.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.db.api_keys import KeyView, Principal
from infra.db.endpoints import EndpointView
from infra.db.models import InboundSource
from infra.db.routes import RouteView
from infra.db.tenants import TenantView
from ingress.admin import dead_letters, events, subjects, sync_jobs
from ingress.admin import schemas as s
from ingress.admin.table import Answer, Call, Operation, not_found, uuid_of
from ingress.http.problems import Problem, forbidden
from streams.errors import ConfigurationError, InvalidEventError, MappingError
from streams.event_type import EventType
from streams.mapping import compile_mapping
from streams.route_filter import compile_filter
from streams.scopes import Scope, allows, parse_scopes, role_of, role_scopes

_DEFAULT_OVERLAP = timedelta(days=1)


def _when(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _tenant(view: TenantView) -> dict[str, Any]:
    return {"id": view.id, "name": view.name, "status": view.status, "partitioning": view.partitioning,
            "created_at": _when(view.created_at)}  # fmt: skip


def _key(view: KeyView) -> dict[str, Any]:
    return {
        "id": str(view.id), "tenant_id": view.tenant_id, "name": view.name, "display_prefix": view.display_prefix,
        "scopes": sorted(view.scopes), "role": role_of(view.scopes), "created_at": _when(view.created_at),
        "expires_at": _when(view.expires_at), "revoked_at": _when(view.revoked_at),
        "last_used_at": _when(view.last_used_at),
    }  # fmt: skip


def _source(row: InboundSource) -> dict[str, Any]:
    return {"id": str(row.id), "tenant_id": row.tenant_id, "source": row.source, "name": row.name,
            "signed": row.signing_secret_encrypted is not None, "created_at": _when(row.created_at),
            "revoked_at": _when(row.revoked_at)}  # fmt: skip


def _destination(view: EndpointView) -> dict[str, Any]:
    return {"id": str(view.id), "tenant_id": view.tenant_id, "name": view.name, "kind": view.kind, "url": view.url,
            "config": dict(view.config), "has_secret": view.has_secret, "enabled": view.enabled,
            "missing": list(view.missing), "paused_at": _when(view.paused_at)}  # fmt: skip


def _route(view: RouteView) -> dict[str, Any]:
    return {"id": str(view.id), "tenant_id": view.tenant_id, "event_type": view.event_type,
            "destination": view.destination, "action": view.action, "filter": view.filter, "mapping": view.mapping,
            "delay_seconds": view.delay_seconds, "enabled": view.enabled, "version": view.version,
            "paused": view.paused}  # fmt: skip


def _event_type(found: EventType) -> dict[str, Any]:
    return {"name": found.name, "version": found.version, "revision": found.revision,
            "deprecated": found.deprecated, "document": found.to_document()}  # fmt: skip


# Tenants


async def list_tenants(call: Call) -> Answer:
    return Answer(200, [_tenant(view) for view in await call.run(call.repos.tenants.list)])


async def create_tenant(call: Call) -> Answer:
    body = call.body
    if await call.run(lambda: call.repos.tenants.find(body["id"])) is not None:
        raise Problem(409, "conflict", "Conflict", "a tenant with this id exists")
    view = await call.run(
        lambda: call.repos.tenants.create(
            body["id"], body.get("name"), sandbox_url=None, partitioning=body.get("partitioning", "tenant")
        )
    )
    return Answer(201, _tenant(view), {"Location": f"/v1/tenants/{view.id}"})


async def get_tenant(call: Call) -> Answer:
    view = await call.run(lambda: call.repos.tenants.find(call.tenant_id))
    if view is None:
        raise not_found("tenant")
    return Answer(200, _tenant(view))


async def update_tenant(call: Call) -> Answer:
    view, _ = await call.run(lambda: call.repos.tenants.set_partitioning(call.tenant_id, call.body["partitioning"]))
    return Answer(200, _tenant(view))


# API keys


def _granted(principal: Principal, body: dict[str, Any]) -> frozenset[Scope]:
    """The scopes a new key is to hold; 403 when its creator may not grant them."""
    asked = parse_scopes(body["scopes"]) if "scopes" in body else role_scopes(body.get("role", "producer"))
    if "admin" not in principal.scopes:
        beyond = sorted(scope for scope in asked if scope == "admin" or not allows(principal.scopes, scope))
        if beyond:
            raise forbidden(f"this API key cannot grant the scope {beyond[0]!r}", scope=beyond[0])
    return asked


async def _own_key(call: Call) -> KeyView:
    key_id = uuid_of(call.path["key_id"], "API key")
    found = next((v for v in await call.run(lambda: call.repos.api_keys.list(call.tenant_id)) if v.id == key_id), None)
    if found is None:
        raise not_found("API key")
    return found


async def list_api_keys(call: Call) -> Answer:
    return Answer(200, [_key(view) for view in await call.run(lambda: call.repos.api_keys.list(call.tenant_id))])


async def create_api_key(call: Call) -> Answer:
    scopes = _granted(call.principal, call.body)
    view, secret = await call.run(lambda: call.repos.api_keys.create(call.tenant_id, call.body["name"], scopes=scopes))
    return Answer(201, _key(view) | {"secret": secret})


async def revoke_api_key(call: Call) -> Answer:
    found = await _own_key(call)
    _granted(call.principal, {"scopes": list(found.scopes)})  # no key revokes one wider than itself
    return Answer(200, _key(await call.run(lambda: call.repos.api_keys.revoke(found.id))))


async def rotate_api_key(call: Call) -> Answer:
    found = await _own_key(call)
    _granted(call.principal, {"scopes": list(found.scopes)})  # the new key holds what the old one did
    overlap = timedelta(seconds=call.body.get("overlap_seconds", _DEFAULT_OVERLAP.total_seconds()))
    view, secret = await call.run(lambda: call.repos.api_keys.rotate(found.id, overlap))
    return Answer(201, _key(view) | {"secret": secret})


# Inbound sources


async def list_sources(call: Call) -> Answer:
    return Answer(200, [_source(row) for row in await call.run(lambda: call.repos.sources.list(call.tenant_id))])


async def create_source(call: Call) -> Answer:
    body = call.body
    new = await call.run(
        lambda: call.repos.sources.add(call.tenant_id, body["source"], body.get("name", "default"), body.get("signed"))
    )
    return Answer(201, {"id": str(new.id), "tenant_id": new.tenant_id, "source": new.source, "token": new.token,
                        "signing_secret": new.signing_secret})  # fmt: skip


async def revoke_source(call: Call) -> Answer:
    source_id = uuid_of(call.path["source_id"], "source")
    rows = await call.run(lambda: call.repos.sources.list(call.tenant_id))
    if not any(row.id == source_id for row in rows):
        raise not_found("source")
    await call.run(lambda: call.repos.sources.revoke(source_id))
    row = next(row for row in await call.run(lambda: call.repos.sources.list(call.tenant_id)) if row.id == source_id)
    return Answer(200, _source(row))


# Destinations


async def _find_destination(call: Call) -> EndpointView:
    name = call.path["name"]
    views = await call.run(lambda: call.repos.destinations.list(call.tenant_id))
    found = next((view for view in views if view.name == name), None)
    if found is None:
        raise not_found("destination")
    return found


async def list_destinations(call: Call) -> Answer:
    views = await call.run(lambda: call.repos.destinations.list(call.tenant_id))
    return Answer(200, [_destination(view) for view in views])


async def create_destination(call: Call) -> Answer:
    body = call.body
    view = await call.run(
        lambda: call.repos.destinations.add(
            call.tenant_id,
            body["name"],
            body["kind"],
            body["url"],
            config=body.get("config"),
            secret=body.get("secret"),
        )
    )
    return Answer(201, _destination(view), {"Location": f"/v1/tenants/{view.tenant_id}/destinations/{view.name}"})


async def get_destination(call: Call) -> Answer:
    return Answer(200, _destination(await _find_destination(call)))


async def update_destination(call: Call) -> Answer:
    body = call.body
    view = await call.run(
        lambda: call.repos.destinations.update(
            call.tenant_id, call.path["name"], url=body.get("url"), config=body.get("config"), secret=body.get("secret")
        )
    )
    return Answer(200, _destination(view))


async def _set_destination_enabled(call: Call, enabled: bool) -> Answer:
    await _find_destination(call)
    view = await call.run(lambda: call.repos.destinations.update(call.tenant_id, call.path["name"], enabled=enabled))
    return Answer(200, _destination(view))


async def enable_destination(call: Call) -> Answer:
    return await _set_destination_enabled(call, True)


async def disable_destination(call: Call) -> Answer:
    return await _set_destination_enabled(call, False)


async def pause_destination(call: Call) -> Answer:
    await _find_destination(call)
    return Answer(
        200, _destination(await call.run(lambda: call.repos.destinations.pause(call.tenant_id, call.path["name"])))
    )


async def resume_destination(call: Call) -> Answer:
    await _find_destination(call)
    view = await call.run(lambda: call.repos.destinations.resume(call.tenant_id, call.path["name"]))
    return Answer(200, _destination(view))


# Routes


async def _find_route(call: Call) -> RouteView:
    route_id = uuid_of(call.path["route_id"], "route")
    views = await call.run(lambda: call.repos.routes.list(call.tenant_id, include_disabled=True))
    found = next((view for view in views if view.id == route_id), None)
    if found is None:
        raise not_found("route")
    return found


async def list_routes(call: Call) -> Answer:
    views = await call.run(lambda: call.repos.routes.list(call.tenant_id, include_disabled=True))
    return Answer(200, [_route(view) for view in views])


async def create_route(call: Call) -> Answer:
    body = call.body
    view = await call.run(
        lambda: call.repos.routes.add(
            call.tenant_id, body["event_type"], body["destination"], body["action"], filter=body.get("filter"),
            mapping=body.get("mapping"), delay_seconds=body.get("delay_seconds", 0),
        )
    )  # fmt: skip
    return Answer(201, _route(view), {"Location": f"/v1/tenants/{view.tenant_id}/routes/{view.id}"})


async def get_route(call: Call) -> Answer:
    return Answer(200, _route(await _find_route(call)))


async def enable_route(call: Call) -> Answer:
    found = await _find_route(call)
    return Answer(200, _route(await call.run(lambda: call.repos.routes.enable(found.id))))


async def disable_route(call: Call) -> Answer:
    found = await _find_route(call)
    return Answer(200, _route(await call.run(lambda: call.repos.routes.disable(found.id))))


async def test_route(call: Call) -> Answer:
    """What the route would deliver for a sample payload: the router's own filter and mapping."""
    found = await _find_route(call)
    catalogue = await call.run(call.repos.event_types.catalogue)
    version = call.body.get("version", 1)
    if catalogue.get(call.tenant_id, found.event_type, version) is None:
        raise Problem(422, "invalid-request", "Invalid request", f"version: {found.event_type} has no such version",
                      field="version")  # fmt: skip
    try:
        payload = catalogue.validate(call.tenant_id, found.event_type, call.body["payload"], version)
    except InvalidEventError as exc:
        field = f"payload.{exc.field}" if exc.field else "payload"
        raise Problem(422, "invalid-request", "Invalid request", str(exc), field=field) from None
    paths = catalogue.paths(call.tenant_id, found.event_type)
    meta = {"id": str(uuid.uuid4()), "type": found.event_type, "tenant_id": call.tenant_id, "source": "admin-api",
            "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "correlation_id": None}  # fmt: skip
    matches = compile_filter(found.filter, paths=paths).matches(payload, meta)
    try:
        delivery = compile_mapping(found.mapping, paths=paths).apply(payload, meta) if matches else None
    except MappingError as exc:
        raise Problem(422, "mapping-failed", "Mapping failed", str(exc)) from None
    return Answer(200, {"matches": matches, "destination": found.destination, "action": found.action,
                        "delivery": delivery})  # fmt: skip


# Event types


def _version(call: Call) -> int:
    raw = call.path["version"]
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise not_found("event type version")
    return int(raw)


async def list_event_types(call: Call) -> Answer:
    found = await call.run(lambda: call.repos.event_types.list(call.tenant_id))
    return Answer(200, [_event_type(each) for each in found])


async def create_event_type(call: Call) -> Answer:
    added = await call.run(lambda: call.repos.event_types.add(call.tenant_id, call.body))
    stored = added.event_type
    location = f"/v1/tenants/{call.tenant_id}/event-types/{stored.name}/versions/{stored.version}"
    return Answer(201, _event_type(stored) | {"outcome": added.outcome}, {"Location": location})


async def get_event_type(call: Call) -> Answer:
    version = _version(call)
    try:
        found = await call.run(lambda: call.repos.event_types.show(call.tenant_id, call.path["name"], version))
    except ConfigurationError:
        raise not_found("event type") from None
    return Answer(200, _event_type(found))


async def deprecate_event_type(call: Call) -> Answer:
    version = _version(call)
    try:
        found = await call.run(lambda: call.repos.event_types.deprecate(call.tenant_id, call.path["name"], version))
    except ConfigurationError:
        raise not_found("event type") from None
    return Answer(200, _event_type(found))


_T = "/tenants/{tenant_id}"
_KEY = {"name": "key_id", "in": "path", "required": True, "schema": s.UUID}
_SOURCE = {"name": "source_id", "in": "path", "required": True, "schema": s.UUID}
_DEST = {"name": "name", "in": "path", "required": True, "schema": s.NAME}
_ROUTE = {"name": "route_id", "in": "path", "required": True, "schema": s.UUID}
_TYPE = [
    {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 100}},
    {"name": "version", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
]

CONFIGURATION: tuple[Operation, ...] = (
    Operation("GET", "/tenants", "admin", list_tenants, "List tenants", "list", s.TENANT),
    Operation("POST", "/tenants", "admin", create_tenant, "Create a tenant (bare: no seed flows)", "single",
              s.TENANT, s.NEW_TENANT, status=201, errors=(409,)),
    Operation("GET", _T, "config:read", get_tenant, "Show a tenant", "single", s.TENANT),
    Operation("PATCH", _T, "config:write", update_tenant, "Change a tenant's partitioning", "single", s.TENANT,
              s.TENANT_PATCH, current=get_tenant),
    Operation("GET", f"{_T}/api-keys", "config:read", list_api_keys, "List the tenant's API keys", "list",
              s.API_KEY),
    Operation("POST", f"{_T}/api-keys", "config:write", create_api_key, "Create an API key; its secret is shown once",
              "single", s.API_KEY_SECRET, s.NEW_API_KEY, status=201),
    Operation("POST", f"{_T}/api-keys/{{key_id}}/revoke", "config:write", revoke_api_key, "Revoke an API key",
              "action", s.API_KEY, parameters=[_KEY]),
    Operation("POST", f"{_T}/api-keys/{{key_id}}/rotate", "config:write", rotate_api_key,
              "A new key with the same scopes; the old one works for the overlap", "action", s.API_KEY_SECRET,
              s.ROTATION, status=201, parameters=[_KEY]),
    Operation("GET", f"{_T}/sources", "config:read", list_sources, "List the tenant's webhook endpoints", "list",
              s.SOURCE),
    Operation("POST", f"{_T}/sources", "config:write", create_source,
              "Add a webhook endpoint; its token and signing secret are shown once", "single", s.SOURCE_SECRETS,
              s.NEW_SOURCE, status=201),
    Operation("POST", f"{_T}/sources/{{source_id}}/revoke", "config:write", revoke_source,
              "Revoke a webhook endpoint", "action", s.SOURCE, parameters=[_SOURCE]),
    Operation("GET", f"{_T}/destinations", "config:read", list_destinations, "List the tenant's destinations",
              "list", s.DESTINATION),
    Operation("POST", f"{_T}/destinations", "config:write", create_destination, "Add a destination", "single",
              s.DESTINATION, s.NEW_DESTINATION, status=201, errors=(409,)),
    Operation("GET", f"{_T}/destinations/{{name}}", "config:read", get_destination, "Show a destination", "single",
              s.DESTINATION, parameters=[_DEST]),
    Operation("PATCH", f"{_T}/destinations/{{name}}", "config:write", update_destination,
              "Change a destination's URL, config or credential", "single", s.DESTINATION, s.DESTINATION_PATCH,
              current=get_destination, parameters=[_DEST]),
    Operation("POST", f"{_T}/destinations/{{name}}/enable", "config:write", enable_destination,
              "Enable a destination", "action", s.DESTINATION, parameters=[_DEST]),
    Operation("POST", f"{_T}/destinations/{{name}}/disable", "config:write", disable_destination,
              "Disable a destination", "action", s.DESTINATION, parameters=[_DEST]),
    Operation("POST", f"{_T}/destinations/{{name}}/pause", "config:write", pause_destination,
              "Pause a destination: its deliveries wait (no attempt spent, nothing dead-lettered)", "action",
              s.DESTINATION, parameters=[_DEST]),
    Operation("POST", f"{_T}/destinations/{{name}}/resume", "config:write", resume_destination,
              "Resume a paused destination", "action", s.DESTINATION, parameters=[_DEST]),
    Operation("GET", f"{_T}/routes", "config:read", list_routes, "List the tenant's routes", "list", s.ROUTE),
    Operation("POST", f"{_T}/routes", "config:write", create_route, "Add a route", "single", s.ROUTE, s.NEW_ROUTE,
              status=201),
    Operation("GET", f"{_T}/routes/{{route_id}}", "config:read", get_route, "Show a route", "single", s.ROUTE,
              parameters=[_ROUTE]),
    Operation("POST", f"{_T}/routes/{{route_id}}/enable", "config:write", enable_route, "Enable a route", "action",
              s.ROUTE, parameters=[_ROUTE]),
    Operation("POST", f"{_T}/routes/{{route_id}}/disable", "config:write", disable_route, "Disable a route",
              "action", s.ROUTE, parameters=[_ROUTE]),
    Operation("POST", f"{_T}/routes/{{route_id}}/test", "config:read", test_route,
              "What the route would deliver for a sample payload (nothing is sent)", "action", s.ROUTE_TEST,
              s.ROUTE_SAMPLE, parameters=[_ROUTE]),
    Operation("GET", f"{_T}/event-types", "config:read", list_event_types, "List the tenant's own event types",
              "list", s.EVENT_TYPE),
    Operation("POST", f"{_T}/event-types", "config:write", create_event_type,
              "Register an event type, or a new revision or major version of one", "single", s.EVENT_TYPE_ADDED,
              s.NEW_EVENT_TYPE, status=201),
    Operation("GET", f"{_T}/event-types/{{name}}/versions/{{version}}", "config:read", get_event_type,
              "Show one major version of an event type", "single", s.EVENT_TYPE, parameters=_TYPE),
    Operation("POST", f"{_T}/event-types/{{name}}/versions/{{version}}/deprecate", "config:write",
              deprecate_event_type, "Deprecate a major version (still accepted, takes no new revision)", "action",
              s.EVENT_TYPE, parameters=_TYPE),
)  # fmt: skip
OPERATIONS: tuple[Operation, ...] = (
    *CONFIGURATION,
    *sync_jobs.OPERATIONS,
    *dead_letters.OPERATIONS,
    *events.OPERATIONS,
    *subjects.OPERATIONS,
)
