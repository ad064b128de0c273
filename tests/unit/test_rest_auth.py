"""REST authentication's static kinds and its configuration checks (``connectors.rest.auth``), and
the rest destination's actions (``streams.rest_actions``); OAuth2 against a real server is in
tests/integration/test_rest_connector.py."""

from __future__ import annotations

import asyncio
import base64

import pytest

from connectors.http import HttpClients
from connectors.rest.auth import auth_from
from connectors.ssrf import OutboundPolicy
from streams.credentials import missing_credentials
from streams.errors import ConfigurationError, PermanentDeliveryError
from streams.rest_actions import action_named, rest_actions


def headers_of(config, secret):
    async def scenario():
        async with HttpClients(OutboundPolicy()) as clients:
            auth = auth_from(config, secret, clients)
            headers = await auth.headers()
            await auth.invalidate()
            return headers, await auth.headers()

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ({"type": "bearer"}, {"Authorization": "Bearer k3y"}),
        (
            {"type": "basic", "username": "crmbus"},
            {"Authorization": "Basic " + base64.b64encode(b"crmbus:k3y").decode()},
        ),
        ({"type": "api_key", "header": "X-Api-Key"}, {"X-Api-Key": "k3y"}),
        ({"type": "none"}, {}),
    ],
)
def test_each_static_kind_adds_its_header_and_keeps_it_after_invalidate(auth, expected):
    assert headers_of({"auth": auth}, "k3y") == (expected, expected)


def test_no_auth_config_means_none():
    assert headers_of({}, None) == ({}, {})


@pytest.mark.parametrize(
    ("auth", "secret", "names"),
    [
        ({"type": "bearer"}, None, "secret"),
        ({"type": "basic"}, "k", "auth.username"),
        ({"type": "api_key", "header": " "}, "k", "auth.header"),
        ({"type": "oauth2_client_credentials", "token_url": "https://a.example/t"}, "k", "auth.client_id"),
        ({"type": "oauth2_client_credentials", "client_id": "c"}, "k", "auth.token_url"),
        (
            {"type": "oauth2_client_credentials", "token_url": "/t", "client_id": "c", "client_auth": "jwt"},
            "k",
            "client_auth",
        ),
        ({"type": "oauth2_client_credentials", "token_url": "https://a.example/t", "client_id": "c"}, None, "secret"),
        ({"type": "digest"}, "k", "auth.type"),
        ("bearer", "k", "auth must be an object"),
    ],
)
def test_an_invalid_auth_config_names_what_is_wrong(auth, secret, names):
    with pytest.raises(ConfigurationError, match=names):
        headers_of({"auth": auth}, secret)


def test_a_relative_token_url_needs_the_endpoints_base_url():
    with pytest.raises(ConfigurationError, match="absolute"):
        headers_of({"auth": {"type": "oauth2_client_credentials", "token_url": "/t", "client_id": "c"}}, "k")


ACTIONS = {"actions": {"upsert": {"method": "PUT", "path": "/v1/things/{id}/parts/{part}"}}}


def test_a_path_template_is_filled_from_the_payload_one_encoded_segment_per_field():
    action = action_named(rest_actions(ACTIONS), "rest.upsert")
    assert action is not None
    assert action.fields == ("id", "part")
    assert action.path_for("rest.upsert", {"id": "a/b?c", "part": 3}) == "/v1/things/a%2Fb%3Fc/parts/3"


@pytest.mark.parametrize(
    "payload", [{"part": 1}, {"id": "", "part": 1}, {"id": True, "part": 1}, {"id": {}, "part": 1}]
)
def test_a_missing_or_unusable_path_field_is_permanent_and_named(payload):
    action = rest_actions(ACTIONS)["upsert"]
    with pytest.raises(PermanentDeliveryError, match="'id'"):
        action.path_for("rest.upsert", payload)


def test_only_rest_prefixed_configured_names_are_actions():
    actions = rest_actions(ACTIONS)
    assert action_named(actions, "upsert") is None
    assert action_named(actions, "crm.upsert") is None
    assert action_named(actions, "rest.other") is None


@pytest.mark.parametrize(
    ("actions", "names"),
    [
        ({}, "at least one"),
        ({"Up": {"method": "PUT", "path": "/x"}}, "lower-case"),
        ({"up": {"method": "GET", "path": "/x"}}, "actions.up.method"),
        ({"up": {"method": "PUT", "path": "x"}}, "actions.up.path"),
        ({"up": {"method": "PUT", "path": "/x/{id!r}"}}, "plain field names"),
        ({"up": {"method": "PUT", "path": "/x/{a.b}"}}, "plain field names"),
        ({"up": {"method": "PUT", "path": "/x/{id"}}, "brace"),
    ],
)
def test_invalid_actions_are_refused_naming_the_action(actions, names):
    with pytest.raises(ConfigurationError, match=names):
        rest_actions({"actions": actions})


def test_a_rest_destination_needs_actions_and_a_secret_unless_it_calls_without_auth():
    assert missing_credentials("rest", "https://a.example", {"auth": {"type": "bearer"}}, False) == (
        "secret",
        "config.actions",
    )
    assert missing_credentials("rest", "https://a.example", {"auth": {"type": "none"}, **ACTIONS}, False) == ()
    assert missing_credentials("rest", "https://a.example", ACTIONS, False) == ()
