"""The REST connector and its OAuth2 client credentials against real servers on loopback
(tests/fakes/oauth2_server.py): tokens are fetched once and kept until shortly before they expire,
concurrent callers share one fetch, a 401 fetches anew, and a refusing token endpoint becomes the
right delivery error without naming the secret."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from yarl import URL

from connectors.destinations import HttpClients, connector_for
from connectors.limits import Timeouts
from connectors.rest.auth import ClientCredentials, auth_from
from connectors.ssrf import OutboundPolicy
from streams.errors import PermanentDeliveryError, TransientDeliveryError, UnsafeDestinationError
from tests.fakes.oauth2_server import CLIENT_ID, CLIENT_SECRET, FakeOAuth2, serving

LOOPBACK = OutboundPolicy(allow_loopback=True)


def oauth2(token_url="/oauth/token", **extra):
    return {"auth": {"type": "oauth2_client_credentials", "token_url": token_url, "client_id": CLIENT_ID, **extra}}


def run(scenario):
    asyncio.run(scenario())


@pytest.mark.parametrize("client_auth", ["basic", "body"])
def test_a_token_is_fetched_once_with_the_chosen_client_auth_and_kept(client_auth):
    async def scenario():
        fake = FakeOAuth2()
        async with serving(fake) as url, HttpClients(LOOPBACK) as clients:
            auth = auth_from(
                oauth2(client_auth=client_auth, scope="appointments"), CLIENT_SECRET, clients, base_url=URL(url)
            )
            first, second = await auth.headers(), await auth.headers()
        assert first == second == {"Authorization": "Bearer token-0"}
        assert [(r.client_auth, r.scope) for r in fake.token_requests] == [(client_auth, "appointments")]

    run(scenario)


def test_concurrent_callers_wait_for_one_token_request():
    async def scenario():
        fake = FakeOAuth2(hold=asyncio.Event())
        async with serving(fake) as url, HttpClients(LOOPBACK) as clients:
            auth = auth_from(oauth2(), CLIENT_SECRET, clients, base_url=URL(url))
            callers = [asyncio.create_task(auth.headers()) for _ in range(20)]
            while not fake.token_requests:
                await asyncio.sleep(0)  # yield until the first fetch reached the server
            fake.hold.set()
            answers = await asyncio.gather(*callers)
        assert {a["Authorization"] for a in answers} == {"Bearer token-0"}
        assert len(fake.token_requests) == 1

    run(scenario)


def test_a_token_is_renewed_before_it_expires_and_after_invalidate():
    now = [0.0]

    async def scenario():
        fake = FakeOAuth2(lifetime_s=100)
        async with serving(fake) as url, HttpClients(LOOPBACK) as clients:
            auth = ClientCredentials(
                token_url=URL(url + "/oauth/token"),
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                scope=None,
                client_auth="basic",
                clients=clients,
                timeouts=Timeouts(),
                clock=lambda: now[0],
            )
            seen = [await auth.headers()]
            now[0] = 89.0  # 10 % of the lifetime left: still kept
            seen.append(await auth.headers())
            now[0] = 90.5  # less than 10 % left: renewed
            seen.append(await auth.headers())
            await auth.invalidate(seen[0])  # a late 401 of a call that carried token-0: token-1 stays
            seen.append(await auth.headers())
            await auth.invalidate(seen[-1])
            seen.append(await auth.headers())
        assert [s["Authorization"] for s in seen] == [
            "Bearer token-0",
            "Bearer token-0",
            "Bearer token-1",
            "Bearer token-1",
            "Bearer token-2",
        ]
        assert len(fake.token_requests) == 3

    run(scenario)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (503, TransientDeliveryError),
        (429, TransientDeliveryError),
        (400, PermanentDeliveryError),
        (401, PermanentDeliveryError),
    ],
)
def test_a_refusing_token_endpoint_is_a_delivery_error_that_names_no_secret(status, error):
    async def scenario():
        fake = FakeOAuth2(token_status=status)
        async with serving(fake) as url, HttpClients(LOOPBACK) as clients:
            auth = auth_from(oauth2(), CLIENT_SECRET, clients, base_url=URL(url))
            with pytest.raises(error) as raised:
                await auth.headers()
        assert str(status) in str(raised.value)
        assert CLIENT_SECRET not in str(raised.value) and CLIENT_ID not in str(raised.value)

    run(scenario)


def test_a_token_endpoint_that_does_not_answer_is_transient():
    async def scenario():
        async with HttpClients(LOOPBACK) as clients:
            auth = auth_from(oauth2("http://127.0.0.1:9/oauth/token"), CLIENT_SECRET, clients)
            with pytest.raises(TransientDeliveryError):
                await auth.headers()

    run(scenario)


def test_the_token_url_passes_the_ssrf_guard():
    async def scenario():
        async with HttpClients(OutboundPolicy()) as clients:
            with pytest.raises(UnsafeDestinationError):
                auth_from(oauth2("http://127.0.0.1:9/oauth/token"), CLIENT_SECRET, clients)

    run(scenario)


# -- the rest destination -----------------------------------------------------------------------


ACTIONS = {
    "upsert_appointment": {"method": "PUT", "path": "/v1/appointments/{id}"},
    "cancel": {"method": "DELETE", "path": "/v1/appointments/{id}"},
}


def test_a_rest_action_sends_its_method_to_its_filled_path_with_the_token():
    async def scenario():
        fake = FakeOAuth2()
        async with serving(fake) as url, HttpClients(LOOPBACK) as clients:
            connector = connector_for(
                "rest", url=url, config={**oauth2(), "actions": ACTIONS}, secret=CLIENT_SECRET, client=clients
            )
            delivered = await connector.deliver("d-1", "rest.upsert_appointment", {"id": "A 1/2", "at": "x"})
            await connector.deliver("d-2", "rest.cancel", {"id": 7})
        assert delivered.status == 200
        assert [(c.method, c.path, c.idempotency_key) for c in fake.calls] == [
            ("PUT", "/v1/appointments/A%201%2F2", "d-1"),
            ("DELETE", "/v1/appointments/7", "d-2"),
        ]
        assert orjson.loads(fake.calls[0].body) == {"id": "A 1/2", "at": "x"}
        assert len(fake.token_requests) == 1

    run(scenario)


def test_a_401_fetches_a_new_token_and_retries_once():
    async def scenario():
        fake = FakeOAuth2()
        async with serving(fake) as url, HttpClients(LOOPBACK) as clients:
            connector = connector_for(
                "rest", url=url, config={**oauth2(), "actions": ACTIONS}, secret=CLIENT_SECRET, client=clients
            )
            await connector.deliver("d-1", "rest.upsert_appointment", {"id": "1"})
            fake.revoke_all()
            await connector.deliver("d-2", "rest.upsert_appointment", {"id": "2"})
        assert [c.token for c in fake.calls] == ["token-0", "token-1"]
        assert (fake.refused, len(fake.token_requests)) == (1, 2)

    run(scenario)


def test_a_second_401_stands_as_a_permanent_error():
    async def scenario():
        async with serving(FakeOAuth2()) as url, HttpClients(LOOPBACK) as clients:
            config = {"auth": {"type": "bearer"}, "actions": ACTIONS}
            connector = connector_for("rest", url=url, config=config, secret="not-a-live-token", client=clients)
            with pytest.raises(PermanentDeliveryError) as raised:
                await connector.deliver("d-1", "rest.upsert_appointment", {"id": "1"})
        assert raised.value.status == 401

    run(scenario)


def test_a_payload_without_a_path_field_is_permanent_and_names_the_field():
    async def scenario():
        async with HttpClients(LOOPBACK) as clients:
            connector = connector_for(
                "rest", url="http://127.0.0.1:9", config={"actions": ACTIONS}, secret=None, client=clients
            )
            with pytest.raises(PermanentDeliveryError, match="'id'"):
                await connector.deliver("d-1", "rest.upsert_appointment", {"name": "x"})
            with pytest.raises(PermanentDeliveryError, match="no action"):
                await connector.deliver("d-1", "rest.nope", {"id": "1"})

    run(scenario)


def test_calls_refused_together_after_a_revocation_cause_one_new_token():
    async def scenario():
        fake = FakeOAuth2()
        async with serving(fake) as url, HttpClients(LOOPBACK) as clients:
            config = {**oauth2(), "actions": ACTIONS}
            connector = connector_for("rest", url=url, config=config, secret=CLIENT_SECRET, client=clients)
            await connector.deliver("d-0", "rest.upsert_appointment", {"id": "0"})
            fake.revoke_all()
            await asyncio.gather(
                *(connector.deliver(f"d-{n}", "rest.upsert_appointment", {"id": str(n)}) for n in range(1, 9))
            )
        assert (fake.refused, len(fake.token_requests)) == (8, 2)
        assert sorted(c.idempotency_key for c in fake.calls) == [f"d-{n}" for n in range(9)]
        assert {c.token for c in fake.calls[1:]} == {"token-1"}

    run(scenario)
