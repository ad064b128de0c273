"""API keys in the real PostgreSQL: issue, authenticate, revoke, rotate with overlap, audit."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.api_keys import ApiKeys
from infra.db.models import ApiKey, AuditLog
from streams.errors import ConfigurationError
from streams.scopes import role_scopes


@pytest.fixture
def keys(migrated):
    return ApiKeys(migrated, actor="test")


def test_a_new_key_authenticates_as_its_tenant_only(keys):
    _, acme = keys.create("acme", "site")
    _, beta = keys.create("beta", "site")
    assert keys.authenticate(acme) == "acme"
    assert keys.authenticate(beta) == "beta"


def test_the_secret_is_not_stored_anywhere(keys, migrated):
    _, secret = keys.create("acme", "site")
    with Session(migrated) as session:
        row = session.scalars(select(ApiKey)).one()
        stored = " ".join(str(getattr(row, column.key)) for column in ApiKey.__table__.columns)
    assert secret not in stored
    assert secret[len(row.prefix) :] not in stored


def test_unknown_and_malformed_keys_do_not_authenticate(keys):
    _, secret = keys.create("acme", "site")
    assert keys.authenticate(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert keys.authenticate("not a key") is None


def test_a_revoked_key_stops_at_once(keys):
    view, secret = keys.create("acme", "site")
    keys.revoke(view.id)
    assert keys.authenticate(secret) is None


def test_after_rotation_both_keys_work_until_the_overlap_ends(keys):
    old_view, old = keys.create("acme", "site")
    new_view, new = keys.rotate(old_view.id, overlap=timedelta(hours=1))
    assert keys.authenticate(old) == "acme"
    assert keys.authenticate(new) == "acme"
    later = datetime.now(UTC) + timedelta(hours=1, seconds=1)
    assert keys.authenticate(old, now=later) is None
    assert keys.authenticate(new, now=later) == "acme"
    assert new_view.name == old_view.name


def test_a_revoked_key_cannot_be_rotated(keys):
    view, _ = keys.create("acme", "site")
    keys.revoke(view.id)
    with pytest.raises(ConfigurationError, match="revoked or expired"):
        keys.rotate(view.id, overlap=timedelta(hours=1))


def test_every_change_to_keys_is_audited(keys, migrated):
    view, _ = keys.create("acme", "site")
    keys.rotate(view.id, overlap=timedelta(minutes=5))
    keys.revoke(view.id)
    with Session(migrated) as session:
        actions = [row.action for row in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["apikey.create", "apikey.rotate", "apikey.revoke"]


def test_listing_shows_state_but_never_the_secret(keys):
    view, secret = keys.create("acme", "site")
    listed = keys.list("acme")
    assert [k.id for k in listed] == [view.id]
    assert secret not in repr(listed)


def test_a_key_holds_its_roles_scopes_and_a_new_key_is_a_producer(keys):
    _, producer = keys.create("acme", "site")
    _, operator = keys.create("acme", "ops", role="operator")
    assert keys.principal(producer).scopes == role_scopes("producer")
    found = keys.principal(operator)
    assert found.scopes == role_scopes("operator")
    assert found.may("dlq:replay") and not found.may("admin")
    assert found.acts_for("acme") and not found.acts_for("beta")


def test_a_platform_key_belongs_to_no_tenant_and_acts_for_every_one(keys):
    view, secret = keys.create(None, "operators", role="admin")
    found = keys.principal(secret)
    assert view.tenant_id is None and found.tenant_id is None
    assert found.acts_for("acme") and found.acts_for("beta")
    assert found.actor == f"key:{view.id}"


def test_a_platform_key_without_admin_or_a_key_without_scopes_is_refused(keys, migrated):
    with pytest.raises(ConfigurationError, match="admin"):
        keys.create(None, "operators", role="operator")
    with pytest.raises(ConfigurationError, match="at least one scope"):
        keys.create("acme", "nothing", scopes=frozenset())
    with pytest.raises(ConfigurationError, match="'owner'"):
        keys.create("acme", "x", role="owner")
    with Session(migrated) as session:
        assert session.scalars(select(ApiKey)).all() == []


def test_a_rotated_key_keeps_the_scopes_of_the_key_it_replaces(keys):
    view, _ = keys.create("acme", "ops", role="viewer")
    _, new = keys.rotate(view.id, overlap=timedelta(minutes=5))
    assert keys.principal(new).scopes == role_scopes("viewer")
