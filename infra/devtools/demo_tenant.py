"""The demo tenant ``crmbus up`` creates: the seed flows pointing at the sandbox (with stand-in
credentials, which the sandbox accepts), a producer's API key and an operator's, to sign in to
the console with.

Each key's secret is shown once when created and kept in ``<state_dir>/bus/demo.key`` and
``operator.key`` (mode 0600), so a second ``crmbus up`` and ``crmbus demo`` use the same keys; a
key that no longer authenticates as the demo tenant's (revoked, expired, another database) is
replaced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from infra.core.settings import Settings
from infra.db.api_keys import ApiKeys
from infra.db.endpoints import Endpoints
from infra.db.tenants import Tenants, stand_in_secret

DEMO_TENANT = "demo"


@dataclass(frozen=True, slots=True)
class DemoTenant:
    tenant_id: str
    api_key: str
    operator_key: str
    created: bool


def demo_key_file(settings: Settings) -> Path:
    return settings.state_path / "bus" / "demo.key"


def operator_key_file(settings: Settings) -> Path:
    return settings.state_path / "bus" / "operator.key"


def ensure_demo_tenant(tenants: Tenants, endpoints: Endpoints, keys: ApiKeys, settings: Settings) -> DemoTenant:
    """The demo tenant with every seed flow (pointing at the sandbox) and a working API key; ``keys``
    create a tenant with the seed flows at ``settings.sandbox_url``."""
    _, created = tenants.ensure(DEMO_TENANT, "Demo company", sandbox_url=settings.sandbox_url, stand_ins=endpoints.box)
    if not created:
        tenants.seed(DEMO_TENANT, settings.sandbox_url, endpoints.box)  # adds seed flows it lacks, nothing else
    for endpoint in endpoints.list(DEMO_TENANT):
        if not endpoint.has_secret:  # a demo tenant from before stand-ins; a real secret set later stays
            endpoints.update(DEMO_TENANT, endpoint.name, secret=stand_in_secret(endpoint.name))
    producer = _kept_key(keys, demo_key_file(settings), "crmbus up demo", "producer")
    operator = _kept_key(keys, operator_key_file(settings), "crmbus up operator", "operator")
    return DemoTenant(DEMO_TENANT, producer, operator, created)


def _kept_key(keys: ApiKeys, path: Path, name: str, role: str) -> str:
    """The demo tenant's key of ``role`` kept at ``path``, made anew if it no longer works."""
    kept = _read(path)
    found = keys.principal(kept) if kept is not None else None
    if kept is not None and found is not None and found.tenant_id == DEMO_TENANT:
        return kept
    _, secret = keys.create(DEMO_TENANT, name, role=role)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret + "\n")
    return secret


def read_demo_key(settings: Settings) -> str | None:
    return _read(demo_key_file(settings))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
