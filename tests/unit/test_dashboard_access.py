"""Who may use the console: the pieces of its gate that need no server."""

import uuid

import pytest

from infra.db.console_sessions import Operator
from ingress.console.access import on_loopback, same_token


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_are_recognised(host):
    assert on_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.0.10", "dashboard.example.com", ""])
def test_every_other_address_is_not_loopback(host):
    assert not on_loopback(host)


def test_a_forms_token_matches_only_the_sessions_own():
    assert same_token("abc-123", "abc-123")
    assert not same_token("abc-124", "abc-123")
    assert not same_token("", "abc-123")


@pytest.mark.parametrize("given", ["abc-12\udcc3", "abc-12é"], ids=["bytes that were not UTF-8", "non-ASCII"])
def test_a_token_that_is_not_ascii_matches_nothing_rather_than_failing(given):
    assert not same_token(given, "abc-123")


@pytest.mark.parametrize("given", [None, ["abc-123"], b"abc-123"])
def test_a_missing_or_non_text_token_matches_nothing(given):
    assert not same_token(given, "abc-123")


def test_a_tenants_operator_acts_for_its_tenant_only_and_an_admin_for_any():
    key = uuid.uuid4()
    operator = Operator(key, "acme", frozenset({"deliveries:read", "deliveries:retry"}))
    admin = Operator(key, None, frozenset({"admin"}))
    assert operator.acts_for("acme") and not operator.acts_for("beta") and not operator.acts_for(None)
    assert admin.acts_for("acme") and admin.acts_for("beta")
    assert operator.may("deliveries:retry") and not operator.may("dlq:replay")
    assert admin.may("dlq:replay")
    assert operator.actor == f"key:{key}"
