"""A tenant's partitioning in the real PostgreSQL: chosen at creation, changed later (audited),
and carried by the credentials the ingress caches, so it needs no query of its own per request."""

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.core.secret_box import SecretBox
from infra.db.api_keys import ApiKeys
from infra.db.inbound_sources import InboundSources
from infra.db.models import AuditLog, Tenant
from infra.db.tenants import Tenants
from streams.errors import ConfigurationError


@pytest.fixture
def tenants(migrated):
    return Tenants(migrated, actor="test")


def _audit(engine, action):
    with Session(engine) as session:
        return [
            (row.tenant_id, row.details) for row in session.scalars(select(AuditLog).where(AuditLog.action == action))
        ]


def test_a_tenant_is_partitioned_by_tenant_unless_created_by_entity(tenants, migrated):
    plain = tenants.create("acme", sandbox_url=None)
    spread = tenants.create("beta", sandbox_url=None, partitioning="entity")
    assert (plain.partitioning, spread.partitioning) == ("tenant", "entity")
    assert {view.id: view.partitioning for view in tenants.list()} == {"acme": "tenant", "beta": "entity"}
    assert ("beta", {"partitioning": "entity"}) in _audit(migrated, "tenant.create")


def test_changing_the_partitioning_is_audited_with_both_values_and_a_no_change_is_not(tenants, migrated):
    tenants.create("acme", sandbox_url=None)
    view, before = tenants.set_partitioning("acme", "entity")
    assert (before, view.partitioning) == ("tenant", "entity")
    _, again = tenants.set_partitioning("acme", "entity")
    assert again == "entity"
    assert _audit(migrated, "tenant.partitioning") == [("acme", {"from": "tenant", "to": "entity"})]


def test_an_unknown_partitioning_is_refused_naming_the_choices_and_changes_nothing(tenants, migrated):
    tenants.create("acme", sandbox_url=None)
    with pytest.raises(ConfigurationError, match="one of tenant, entity"):
        tenants.set_partitioning("acme", "lead")
    with pytest.raises(ConfigurationError, match="one of tenant, entity"):
        tenants.create("beta", sandbox_url=None, partitioning="lead")
    with Session(migrated) as session:
        assert session.scalars(select(Tenant.partitioning)).all() == ["tenant"]
    assert _audit(migrated, "tenant.partitioning") == []


def test_an_unknown_tenant_cannot_be_repartitioned(tenants):
    with pytest.raises(ConfigurationError, match="no tenant 'nobody'"):
        tenants.set_partitioning("nobody", "entity")


def test_api_keys_and_webhook_endpoints_carry_their_tenants_partitioning(tenants, migrated):
    keys = ApiKeys(migrated, actor="test")
    sources = InboundSources(migrated, SecretBox(Fernet.generate_key()), actor="test")
    _, secret = keys.create("acme", "site")
    endpoint = sources.add("acme", "site")
    assert keys.principal(secret).partitioning == sources.resolve(endpoint.token).partitioning == "tenant"
    tenants.set_partitioning("acme", "entity")
    assert keys.principal(secret).partitioning == sources.resolve(endpoint.token).partitioning == "entity"
