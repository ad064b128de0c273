"""Scopes and roles: what each kind of key may do."""

import pytest

from streams.scopes import ROLE_SCOPES, SCOPES, allows, parse_scopes, role_of, role_scopes, scopes_of

pytestmark = pytest.mark.unit


def test_a_producer_sends_and_reads_its_events_and_nothing_else():
    producer = role_scopes("producer")
    assert allows(producer, "events:write") and allows(producer, "events:read")
    assert not allows(producer, "deliveries:read") and not allows(producer, "config:write")


def test_each_role_holds_the_one_below_it_apart_from_the_producer():
    assert ROLE_SCOPES["viewer"] < ROLE_SCOPES["operator"] < ROLE_SCOPES["admin"]
    assert not any(allows(ROLE_SCOPES["viewer"], s) for s in ("deliveries:retry", "dlq:replay", "config:write"))


def test_admin_implies_every_scope_and_only_admin_does():
    assert all(allows(frozenset({"admin"}), scope) for scope in SCOPES)
    assert not allows(ROLE_SCOPES["operator"], "admin")
    assert not allows(ROLE_SCOPES["operator"], "personal_data:read")


def test_an_unknown_scope_or_role_is_refused_by_name():
    with pytest.raises(ValueError, match="'events:delete'"):
        parse_scopes(["events:read", "events:delete"])
    with pytest.raises(ValueError, match="'owner'"):
        role_scopes("owner")


def test_stored_names_no_longer_known_grant_nothing():
    assert scopes_of(["events:write", "legacy:thing"]) == {"events:write"}


def test_a_set_of_scopes_is_named_by_its_role_when_it_is_one():
    assert role_of(role_scopes("operator")) == "operator"
    assert role_of(frozenset({"events:read"})) is None
