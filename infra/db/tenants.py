"""Tenants in PostgreSQL: create, ensure, list, and seed them with the seed flows.

A new tenant gets the destinations and routes of ``streams.seed_flows`` at the sandbox, so its
first event already does something visible. In development the caller passes a secret box and
the seed destinations get the sandbox's stand-in credentials (it takes any); without one they
start with none, and the seed routes to a destination that lacks its credential start paused
(``infra.db.routes``) until ``crmbus destinations set`` supplies it. Seeding is idempotent without bookkeeping: a seed
route's id is derived from the tenant and the route's key (UUID v5), and destinations are unique
by (tenant, name), so inserts that find their row already there do nothing. A seed route the
tenant disabled, or a destination it pointed at its real system, is left as it is.

The sandbox's base URL is a parameter: the composition root (the CLI) reads it from settings.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from infra.core.secret_box import SecretBox
from infra.db.audit import audit
from infra.db.endpoints import missing_of
from infra.db.errors import translated
from infra.db.models import EventMapping, SyncJob, Tenant, WebhookEndpoint
from streams.errors import ConfigurationError
from streams.partitioning import DEFAULT_PARTITIONING, Partitioning, partitioning_named
from streams.seed_flows import SEED_DESTINATIONS, SEED_ROUTES, SeedRoute
from streams.sync_jobs import DEFAULT_SYNC_JOBS

TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
"""A tenant id is a slug: it is the Kafka record key and appears in URLs, logs and metrics."""

_SEED_NAMESPACE = uuid.UUID("3c1f6a8e-9d2b-5e47-a0c3-7365656466c6")


@dataclass(frozen=True, slots=True)
class TenantView:
    id: str
    name: str
    status: str
    created_at: datetime
    partitioning: Partitioning = DEFAULT_PARTITIONING

    @classmethod
    def of(cls, row: Tenant) -> TenantView:
        return cls(row.id, row.name, row.status, row.created_at, partitioning_of(row))


@dataclass(frozen=True, slots=True)
class SeedResult:
    """What one seeding added; ``skipped`` are seed route keys whose destination name the tenant
    already uses for another kind of destination, so the route would make no sense there."""

    destinations_added: int
    routes_added: int
    skipped: tuple[str, ...] = ()
    paused: int = 0
    """Of ``routes_added``, those added paused: their destination lacks its credential."""


def seed_route_id(tenant_id: str, key: str) -> uuid.UUID:
    """The id of seed route ``key`` in ``tenant_id``: the same on every seeding."""
    return uuid.uuid5(_SEED_NAMESPACE, f"{tenant_id}/{key}")


def partitioning_of(row: Tenant) -> Partitioning:
    """The tenant's partitioning; the table's check constraint admits no other value."""
    return partitioning_named(row.partitioning)


def check_partitioning(name: str) -> Partitioning:
    """``name`` as a ``Partitioning``; else ``ConfigurationError`` naming the choices."""
    try:
        return partitioning_named(name)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def check_tenant_id(tenant_id: str) -> str:
    """``tenant_id`` if it is a slug; else ``ConfigurationError`` (which does not echo it)."""
    if TENANT_ID.fullmatch(tenant_id) is None:
        raise ConfigurationError(
            "a tenant id is 1 to 64 lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )
    return tenant_id


class Tenants:
    def __init__(self, engine: Engine, actor: str = "cli") -> None:
        self.engine = engine
        self.actor = actor

    @translated("creating a tenant")
    def create(
        self,
        tenant_id: str,
        name: str | None = None,
        *,
        sandbox_url: str | None,
        stand_ins: SecretBox | None = None,
        partitioning: str = DEFAULT_PARTITIONING,
    ) -> TenantView:
        """A new tenant, seeded with the seed flows at ``sandbox_url``; ``None`` leaves it bare.
        ``stand_ins`` seals the sandbox's stand-in credentials into the seed destinations
        (development); without it their routes start paused. ``partitioning``: see
        ``streams.partitioning``.

        Raises ``ConfigurationError`` when the id is not a slug, the partitioning unknown or the
        tenant exists.
        """
        check_tenant_id(tenant_id)
        chosen = check_partitioning(partitioning)
        with Session(self.engine) as session, session.begin():
            if not _insert(session, tenant_id, name, chosen):
                raise ConfigurationError(f"tenant {tenant_id!r} exists; 'crmbus tenants seed' adds missing seed flows")
            audit(
                session, actor=self.actor, tenant_id=tenant_id, action="tenant.create", target_type="tenant",
                target_id=tenant_id, details={"partitioning": chosen},
            )  # fmt: skip
            if sandbox_url is not None:
                self._seed(session, tenant_id, sandbox_url, stand_ins)
            return TenantView.of(self._get(session, tenant_id))

    @translated("ensuring a tenant")
    def ensure(
        self, tenant_id: str, name: str | None = None, *, sandbox_url: str | None, stand_ins: SecretBox | None = None
    ) -> tuple[TenantView, bool]:
        """The tenant ``tenant_id``, and whether this call created (and seeded, as ``create``) it.

        Safe under concurrent calls for the same new tenant: one creates and seeds it, the others
        find it. An existing tenant is neither renamed nor re-seeded. The seeding is audited; the
        creation is left to the caller's own audit row, which says what the tenant was created for
        (``apikey.create`` records ``tenant_created``).
        """
        with Session(self.engine) as session, session.begin():
            existing = session.get(Tenant, tenant_id)
            if existing is not None:
                return TenantView.of(existing), False
            check_tenant_id(tenant_id)
            created = _insert(session, tenant_id, name)
            if created and sandbox_url is not None:
                self._seed(session, tenant_id, sandbox_url, stand_ins)
            return TenantView.of(self._get(session, tenant_id)), created

    @translated("reading a tenant")
    def find(self, tenant_id: str) -> TenantView | None:
        with Session(self.engine) as session:
            row = session.get(Tenant, tenant_id)
            return TenantView.of(row) if row is not None else None

    @translated("listing tenants")
    def list(self) -> list[TenantView]:
        with Session(self.engine) as session:
            return [TenantView.of(row) for row in session.scalars(select(Tenant).order_by(Tenant.id))]

    @translated("changing a tenant's partitioning")
    def set_partitioning(self, tenant_id: str, partitioning: str) -> tuple[TenantView, Partitioning]:
        """``tenant_id`` keyed by ``partitioning`` from now on, and the partitioning it had.

        The ingress reads the setting with the credentials it caches, so it takes effect within
        ``CRMBUS_API_KEY_CACHE_TTL_S``. Setting the partitioning it has changes nothing and is not
        audited. Raises ``ConfigurationError`` for an unknown tenant or partitioning.
        """
        chosen = check_partitioning(partitioning)
        with Session(self.engine) as session, session.begin():
            row = self._get(session, tenant_id)
            before = partitioning_of(row)
            if before != chosen:
                row.partitioning = chosen
                audit(
                    session, actor=self.actor, tenant_id=tenant_id, action="tenant.partitioning",
                    target_type="tenant", target_id=tenant_id, details={"from": before, "to": chosen},
                )  # fmt: skip
            return TenantView.of(row), before

    @translated("seeding a tenant")
    def seed(self, tenant_id: str, sandbox_url: str, stand_ins: SecretBox | None = None) -> SeedResult:
        """Add the seed destinations and routes ``tenant_id`` lacks; seeding again adds nothing."""
        with Session(self.engine) as session, session.begin():
            self._get(session, tenant_id)
            return self._seed(session, tenant_id, sandbox_url, stand_ins)

    def _seed(self, session: Session, tenant_id: str, sandbox_url: str, stand_ins: SecretBox | None) -> SeedResult:
        destinations_added = _add_seed_destinations(session, tenant_id, _base_url(sandbox_url), stand_ins)
        endpoints = {
            row.name: row
            for row in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id))
        }
        kinds = {seed.name: seed.kind for seed in SEED_DESTINATIONS}
        fitting = [seed for seed in SEED_ROUTES if endpoints[seed.destination].kind == kinds[seed.destination]]
        added = _add_seed_routes(session, tenant_id, fitting, endpoints) if fitting else []
        result = SeedResult(
            destinations_added,
            len(added),
            tuple(seed.key for seed in SEED_ROUTES if seed not in fitting),
            sum(1 for enabled in added if not enabled),
        )
        audit(
            session,
            actor=self.actor,
            tenant_id=tenant_id,
            action="tenant.seed",
            target_type="tenant",
            target_id=tenant_id,
            details={
                "destinations_added": str(result.destinations_added),
                "routes_added": str(result.routes_added),
                "routes_paused": str(result.paused),
            },
        )
        return result

    @staticmethod
    def _get(session: Session, tenant_id: str) -> Tenant:
        row = session.get(Tenant, tenant_id)
        if row is None:
            raise ConfigurationError(f"no tenant {tenant_id!r}; create it with 'crmbus tenants create'")
        return row


def _insert(
    session: Session, tenant_id: str, name: str | None, partitioning: Partitioning = DEFAULT_PARTITIONING
) -> bool:
    """Whether the tenant was inserted; False when it exists (a concurrent call may have won)."""
    inserted = session.scalars(
        insert(Tenant)
        .values(id=tenant_id, name=name or tenant_id, partitioning=partitioning)
        .on_conflict_do_nothing(index_elements=[Tenant.id])
        .returning(Tenant.id)
    ).first()
    if inserted is not None:
        _add_default_sync_jobs(session, tenant_id)
    return inserted is not None


def _add_default_sync_jobs(session: Session, tenant_id: str) -> None:
    """The default sync jobs (``streams.sync_jobs.DEFAULT_SYNC_JOBS``), disabled."""
    session.execute(
        insert(SyncJob).values(
            [
                {"id": uuid.uuid4(), "tenant_id": tenant_id, "name": name, "enabled": False, **dict(job)}
                for name, job in DEFAULT_SYNC_JOBS.items()
            ]
        )
    )


def stand_in_secret(name: str) -> str:
    """The credential a seed destination named ``name`` gets in development: the sandbox takes any."""
    return f"sandbox-{name}-token"


def _add_seed_destinations(session: Session, tenant_id: str, base_url: str, stand_ins: SecretBox | None) -> int:
    rows = [
        {
            "tenant_id": tenant_id,
            "name": seed.name,
            "kind": seed.kind,
            "url": base_url + seed.path,
            "config": copy.deepcopy(dict(seed.config)),
            "secret_encrypted": None if stand_ins is None else stand_ins.seal(stand_in_secret(seed.name).encode()),
        }
        for seed in SEED_DESTINATIONS
    ]
    added = session.scalars(
        insert(WebhookEndpoint)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[WebhookEndpoint.tenant_id, WebhookEndpoint.name])
        .returning(WebhookEndpoint.id)
    )
    return len(added.all())


def _add_seed_routes(
    session: Session, tenant_id: str, seeds: Sequence[SeedRoute], endpoints: Mapping[str, WebhookEndpoint]
) -> list[bool]:
    """Whether each route added is enabled: paused when its destination lacks its credential."""
    rows = [
        {
            "id": seed_route_id(tenant_id, seed.key),
            "tenant_id": tenant_id,
            "event_type": seed.event_type,
            "endpoint_id": endpoints[seed.destination].id,
            "action": seed.action,
            "filter": copy.deepcopy(dict(seed.filter)),
            "mapping": copy.deepcopy(dict(seed.mapping)),
            "delay_seconds": seed.delay_seconds,
            "enabled": not missing_of(endpoints[seed.destination]),
        }
        for seed in seeds
    ]
    added = session.scalars(
        insert(EventMapping)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[EventMapping.id])
        .returning(EventMapping.enabled)
    )
    return list(added.all())


def _base_url(sandbox_url: str) -> str:
    if not sandbox_url.startswith(("http://", "https://")):
        raise ConfigurationError("the sandbox URL must start with http:// or https://")
    return sandbox_url.rstrip("/")
