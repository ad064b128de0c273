"""A tenant's destinations (``webhook_endpoints``): where its deliveries go and with which credentials.

Secrets are sealed (``infra.core.secret_box``) before they reach PostgreSQL and opened only when a
worker loads the destinations it calls; they never appear in a listing, a log or an audit row.
Every change bumps ``updated_at``, which the workers' routes fingerprint watches, so a new URL,
config or secret is picked up within ``CRMBUS_ROUTES_POLL_S`` without a restart.

A destination without the credential its kind needs (``streams.credentials``) could only fail, so
none is added or left enabled by a change: the error says which ``crmbus destinations set`` line
supplies it. Seeding may still create one (in production there is no credential to give), with
its routes paused; the change that supplies the credential resumes them.
"""

from __future__ import annotations

import builtins
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from infra.core.secret_box import SecretBox
from infra.db.audit import audit
from infra.db.errors import translated
from infra.db.models import EventMapping, Tenant, WebhookEndpoint
from streams.credentials import describe_missing, missing_credentials, setup_command
from streams.errors import ConfigurationError
from streams.rest_actions import rest_actions
from streams.routes import DESTINATIONS

log = logging.getLogger(__name__)

_ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class Destination:
    """One enabled destination as a worker calls it: its secret opened."""

    id: str
    tenant_id: str
    name: str
    kind: str
    url: str
    config: Mapping[str, Any]
    secret: str | None
    secret_unreadable: bool = False
    """Its stored secret cannot be opened with this process's CRMBUS_SECRET_KEY: deliveries to it
    are dead-lettered (replayable once the key or the secret is set right), the others go on."""
    paused: bool = False
    """An operator paused it: its deliveries wait in a retry tier, none is attempted."""


@dataclass(frozen=True, slots=True)
class EndpointView:
    """A destination as an operator sees it: whether it has a secret, never the secret."""

    id: uuid.UUID
    tenant_id: str
    name: str
    kind: str
    url: str
    config: Mapping[str, Any]
    has_secret: bool
    enabled: bool
    missing: tuple[str, ...] = ()
    """What it lacks to be called (``secret``, ``config.<key>``): its routes are paused until set."""
    resumed: int = 0
    """Routes the change that returned this view resumed: they were paused for lack of its credential."""
    paused_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, row: WebhookEndpoint, resumed: int = 0) -> EndpointView:
        return cls(
            row.id,
            row.tenant_id,
            row.name,
            row.kind,
            row.url,
            dict(row.config),
            row.secret_encrypted is not None,
            row.enabled,
            missing_of(row),
            resumed,
            row.paused_at,
            row.updated_at,
        )

    def setup_command(self) -> str:
        """The ``crmbus destinations set`` line that supplies what it lacks."""
        return setup_command(self.tenant_id, self.name, self.missing)


def missing_of(row: WebhookEndpoint) -> tuple[str, ...]:
    """What the destination ``row`` lacks to be called (``streams.credentials``)."""
    return missing_credentials(row.kind, row.url, row.config, row.secret_encrypted is not None)


def refuse_unconfigured(row: WebhookEndpoint) -> None:
    """``ConfigurationError`` naming what an enabled ``row`` lacks and the command that sets it."""
    if row.kind == "rest":
        rest_actions(row.config)  # an action a route cannot be saved for must not be saved either
    missing = missing_of(row)
    if row.enabled and missing:
        raise ConfigurationError(
            f"{describe_missing(row.kind, missing)}; set it with: {setup_command(row.tenant_id, row.name, missing)}"
        )


class Endpoints:
    def __init__(self, engine: Engine, box: SecretBox, actor: str = "cli") -> None:
        self.engine, self.box, self.actor = engine, box, actor

    @translated("listing destinations")
    def list(self, tenant_id: str | None = None) -> builtins.list[EndpointView]:
        query = select(WebhookEndpoint).order_by(WebhookEndpoint.tenant_id, WebhookEndpoint.name)
        if tenant_id is not None:
            query = query.where(WebhookEndpoint.tenant_id == tenant_id)
        with Session(self.engine) as session:
            return [EndpointView.of(row) for row in session.scalars(query)]

    @translated("adding a destination")
    def add(
        self,
        tenant_id: str,
        name: str,
        kind: str,
        url: str,
        *,
        config: Mapping[str, Any] | None = None,
        secret: str | None = None,
    ) -> EndpointView:
        """A new destination of ``tenant_id`` (the seed gives each tenant five; WAHA, webhooks and
        second CRMs are added here). ``ConfigurationError`` if it lacks what its kind needs."""
        if kind not in DESTINATIONS:
            raise ConfigurationError(f"kind must be one of {', '.join(DESTINATIONS)}")
        with Session(self.engine) as session, session.begin():
            if session.get(Tenant, tenant_id) is None:
                raise ConfigurationError(f"no tenant {tenant_id!r}")
            row = WebhookEndpoint(
                tenant_id=tenant_id,
                name=name,
                kind=kind,
                url=url,
                config=dict(config or {}),
                secret_encrypted=self.box.seal(secret.encode()) if secret is not None else None,
                enabled=True,
            )
            refuse_unconfigured(row)
            session.add(row)
            session.flush()
            audit(
                session,
                actor=self.actor,
                tenant_id=tenant_id,
                action="endpoint.add",
                target_type="webhook_endpoint",
                target_id=str(row.id),
                details={"kind": kind},
            )
            session.refresh(row)
            return EndpointView.of(row)

    @translated("updating a destination")
    def update(
        self,
        tenant_id: str,
        name: str,
        *,
        url: str | None = None,
        config: Mapping[str, Any] | None = None,
        secret: str | None = None,
        enabled: bool | None = None,
    ) -> EndpointView:
        """Change a destination; ``config`` is merged into what it has (a key set to null is removed).

        Refused (``ConfigurationError``) when the destination would be enabled without what its
        kind needs. The change that gives it what it lacked resumes the routes paused for that.
        """
        with Session(self.engine) as session, session.begin():
            row = self._named(session, tenant_id, name)
            was_missing = bool(missing_of(row))
            changed: builtins.list[str] = []
            if url is not None:
                row.url, changed = url, [*changed, "url"]
            if config is not None:
                merged = {**row.config, **config}
                row.config = {key: value for key, value in merged.items() if value is not None}
                changed.append("config")
            if secret is not None:
                row.secret_encrypted = self.box.seal(secret.encode())
                changed.append("secret")
            if enabled is not None:
                row.enabled = enabled
                changed.append("enabled")
            refuse_unconfigured(row)
            resumed = _resume_paused_routes(session, row) if was_missing and not missing_of(row) else 0
            row.updated_at = func.now()
            audit(
                session,
                actor=self.actor,
                tenant_id=tenant_id,
                action="endpoint.update",
                target_type="webhook_endpoint",
                target_id=str(row.id),
                details={"changed": ",".join(changed), "routes_resumed": str(resumed)},
            )
            session.flush()
            session.refresh(row)
            return EndpointView.of(row, resumed)

    @translated("pausing a destination")
    def pause(self, tenant_id: str, name: str) -> EndpointView:
        """Hold ``tenant_id``'s destination ``name``: the sinks park its deliveries in a retry tier
        (no attempt spent, nothing dead-lettered) until it is resumed. Pausing twice is one pause."""
        return self._set_paused(tenant_id, name, paused=True)

    @translated("resuming a destination")
    def resume(self, tenant_id: str, name: str) -> EndpointView:
        """Let a paused destination's deliveries go again, each at its retry tier's next turn."""
        return self._set_paused(tenant_id, name, paused=False)

    def _set_paused(self, tenant_id: str, name: str, *, paused: bool) -> EndpointView:
        with Session(self.engine) as session, session.begin():
            row = self._named(session, tenant_id, name)
            if (row.paused_at is not None) != paused:
                row.paused_at = func.now() if paused else None
                row.updated_at = func.now()
                audit(
                    session,
                    actor=self.actor,
                    tenant_id=tenant_id,
                    action="endpoint.pause" if paused else "endpoint.resume",
                    target_type="webhook_endpoint",
                    target_id=str(row.id),
                )
                session.flush()
                session.refresh(row)
            return EndpointView.of(row)

    @staticmethod
    def _named(session: Session, tenant_id: str, name: str) -> WebhookEndpoint:
        row = session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.name == name)
        ).one_or_none()
        if row is None:
            raise ConfigurationError(f"tenant {tenant_id!r} has no destination named {name!r}")
        return row

    @translated("loading destinations")
    def load_enabled(self) -> builtins.list[Destination]:
        """Every enabled destination of every active tenant, secrets opened, for the sinks."""
        query = (
            select(WebhookEndpoint)
            .join(Tenant, Tenant.id == WebhookEndpoint.tenant_id)
            .where(WebhookEndpoint.enabled, Tenant.status == _ACTIVE)
        )
        with Session(self.engine) as session:
            rows = session.scalars(query).all()
        return [self._opened(row) for row in rows]

    def _opened(self, row: WebhookEndpoint) -> Destination:
        secret, unreadable = None, False
        if row.secret_encrypted is not None:
            try:
                secret = self.box.open(row.secret_encrypted).decode()
            except ConfigurationError:
                unreadable = True  # one destination sealed under another key must not stop every tenant
                log.warning(
                    "destination %s (tenant %s, %s): its secret cannot be opened with this CRMBUS_SECRET_KEY; "
                    "its deliveries go to the DLQ",
                    row.id,
                    row.tenant_id,
                    row.name,
                )
        return Destination(
            str(row.id), row.tenant_id, row.name, row.kind, row.url, dict(row.config), secret, unreadable,
            paused=row.paused_at is not None,
        )  # fmt: skip


def _resume_paused_routes(session: Session, row: WebhookEndpoint) -> int:
    """Enable the routes to ``row`` that were paused while it lacked its credential."""
    resumed = session.scalars(
        update(EventMapping)
        .where(EventMapping.endpoint_id == row.id, EventMapping.tenant_id == row.tenant_id, ~EventMapping.enabled)
        .values(enabled=True, version=EventMapping.version + 1, updated_at=func.now())
        .returning(EventMapping.id)
    ).all()
    return len(resumed)
