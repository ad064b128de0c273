"""Destination connectors against real HTTP servers on loopback: each sends exactly its contract,
and every way a destination can answer, or fail to, becomes the right delivery outcome."""

import asyncio
import base64
import contextlib
import socket
import struct
from dataclasses import dataclass, field
from importlib.metadata import version
from urllib.parse import parse_qs

import orjson
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver
from standardwebhooks import Webhook

from connectors.destinations import CONNECTORS, Delivered, HttpClients, connector_for
from connectors.ssrf import OutboundPolicy
from infra.devtools.sandbox import CONTRACTS, Sandbox
from infra.devtools.sandbox.contracts import REST_SYSTEMS
from streams import standard_webhooks
from streams.errors import PermanentDeliveryError, TransientDeliveryError, UnsafeDestinationError
from streams.routes import DESTINATIONS
from streams.seed_flows import SEED_DESTINATIONS
from tests.conftest import free_port
from tests.fakes.loopback import serving_app

LOOPBACK = OutboundPolicy(allow_loopback=True)
DELIVERY_ID = "5f0c8a1e-8d4b-5b7a-9c3e-0d2f6a7b8c9d"
LEAD = {"event_id": "e-1", "name": "Ana Souza", "phone": "+5511999990000", "channel": "site"}
WEBHOOK_SECRET = standard_webhooks.generate_secret()


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes
    client_port: int

    @property
    def json(self):
        return orjson.loads(self.body)


@dataclass
class Destination:
    """A loopback HTTP server that records each request and answers with ``respond``."""

    respond: object = None
    received: list = field(default_factory=list)
    port: int = 0

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request):
        body = await request.read()
        peer = request.transport.get_extra_info("peername")
        self.received.append(Received(request.method, request.raw_path, dict(request.headers), body, peer[1]))
        if self.respond is None:
            return web.json_response({"ok": True}, status=201)
        return await self.respond(request)


@contextlib.asynccontextmanager
async def destination(respond=None):
    server = Destination(respond)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    async with serving_app(app) as server.port:
        yield server


def answer(status, body=b"{}", headers=None):
    async def respond(request):
        return web.Response(status=status, body=body, headers=headers or {}, content_type="application/json")

    return respond


async def deliver(kind, url, action, payload, *, config=None, secret="s3cret", policy=LOOPBACK, **client_options):
    async with HttpClients(policy, **client_options) as clients:
        connector = connector_for(kind, url=url, config=config or {}, secret=secret, client=clients)
        return await connector.deliver(DELIVERY_ID, action, payload)


def run_against(kind, action, payload, *, respond=None, config=None, secret="s3cret", base="/base"):
    """Deliver once to a fresh loopback destination; returns (outcome or raised error, requests seen)."""

    async def scenario():
        async with destination(respond) as server:
            try:
                outcome = await deliver(kind, server.url(base), action, payload, config=config, secret=secret)
            except (TransientDeliveryError, PermanentDeliveryError) as error:
                outcome = error
            return outcome, server.received

    return asyncio.run(scenario())


# -- the contracts ---------------------------------------------------------------------------------

BEARER_CONTRACTS = [
    ("crm", "crm.upsert_lead", "/base/api/v1/leads"),
    ("crm", "crm.update_service", "/base/api/v1/services"),
    ("crm", "crm.log_interaction", "/base/api/v1/interactions"),
    ("financeiro", "financeiro.create_customer", "/base/api/v1/customers"),
    ("financeiro", "financeiro.create_invoice", "/base/api/v1/invoices"),
    ("marketing", "marketing.assign_campaign", "/base/api/v1/campaign-assignments"),
]


def assert_common_headers(request):
    assert request.method == "POST"
    assert request.headers["Idempotency-Key"] == DELIVERY_ID
    assert request.headers["User-Agent"] == f"crmbus/{version('crmbus')}"
    assert request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(("kind", "action", "path"), BEARER_CONTRACTS)
def test_bearer_destinations_post_the_payload_to_the_actions_resource(kind, action, path):
    delivered, [request] = run_against(kind, action, LEAD)

    assert isinstance(delivered, Delivered)
    assert delivered.status == 201
    assert request.path == path
    assert_common_headers(request)
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.json == LEAD


def test_zapi_sends_digits_and_message_to_the_instance_path_with_the_client_token():
    config = {"instance_id": "3C4F0A", "token": "F00D/CAFE"}
    payload = {"phone": "+55 (11) 99999-0000", "message": "Olá, Ana!"}

    _, [request] = run_against("zapi", "zapi.send_text", payload, config=config, secret="account-token")

    assert request.path == "/base/instances/3C4F0A/token/F00D%2FCAFE/send-text"
    assert_common_headers(request)
    assert request.headers["Client-Token"] == "account-token"
    assert "Authorization" not in request.headers
    assert request.json == {"phone": "5511999990000", "message": "Olá, Ana!"}


@pytest.mark.parametrize(
    ("payload", "chat_id"),
    [
        ({"phone": "5511999990000", "message": "Oi"}, "5511999990000@c.us"),
        ({"chatId": "5511999990000@c.us", "text": "Oi"}, "5511999990000@c.us"),
        ({"chatId": "120363@g.us", "message": "Oi"}, "120363@g.us"),
    ],
)
def test_waha_sends_a_chat_id_and_text_to_send_text_with_the_api_key(payload, chat_id):
    _, [request] = run_against("waha", "waha.send_text", payload, config={"session": "clinic"})

    assert request.path == "/base/api/sendText"
    assert_common_headers(request)
    assert request.headers["X-Api-Key"] == "s3cret"
    assert request.json == {"session": "clinic", "chatId": chat_id, "text": "Oi"}


def test_waha_uses_the_default_session_and_no_api_key_when_none_is_configured():
    _, [request] = run_against("waha", "waha.send_text", {"phone": "5511999990000", "text": "Oi"}, secret=None)

    assert request.json["session"] == "default"
    assert "X-Api-Key" not in request.headers


def test_email_sends_recipient_template_and_params_from_the_seed_mapping():
    payload = {"to": "ana@example.com", "template": "boas_vindas", "variables": {"name": "Ana"}}

    _, [request] = run_against("email", "email.send_template", payload)

    assert request.path == "/base/v1/send"
    assert_common_headers(request)
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.json == {"to": "ana@example.com", "template": "boas_vindas", "params": {"name": "Ana"}}


def test_email_takes_top_level_fields_and_params_as_template_params():
    payload = {"to": "ana@example.com", "template": "lembrete", "name": "Ana", "params": {"hora": "10:00"}}

    _, [request] = run_against("email", "email.send_template", payload)

    assert request.json["params"] == {"name": "Ana", "hora": "10:00"}


def test_a_webhook_posts_the_payload_to_the_url_signed_so_the_reference_package_verifies_it():
    _, [request] = run_against("webhook", "lead.created", LEAD, secret=WEBHOOK_SECRET, base="/hooks/crmbus")

    assert request.path == "/hooks/crmbus"
    assert_common_headers(request)
    assert request.headers["webhook-id"] == DELIVERY_ID
    assert Webhook(WEBHOOK_SECRET).verify(request.body, request.headers) == LEAD


def test_a_webhook_during_rotation_is_accepted_by_receivers_on_the_old_or_the_new_secret():
    new, old = standard_webhooks.generate_secret(), WEBHOOK_SECRET

    _, [request] = run_against("webhook", "any.action", LEAD, secret=f"{new} {old}")

    Webhook(new).verify(request.body, request.headers)
    Webhook(old).verify(request.body, request.headers)


TWILIO_CONFIG = {"account_sid": "AC123", "from": "+5511912345678"}


def test_twilio_posts_form_fields_to_the_accounts_messages_with_basic_auth_and_an_e164_number():
    _, [request] = run_against(
        "sms_twilio", "sms_twilio.send_sms", {"phone": "(11) 98765-4321", "message": "Olá"}, config=TWILIO_CONFIG
    )

    assert request.path == "/base/2010-04-01/Accounts/AC123/Messages.json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"AC123:s3cret").decode()
    assert request.headers["Idempotency-Key"] == DELIVERY_ID
    assert parse_qs(request.body.decode()) == {"To": ["+5511987654321"], "From": ["+5511912345678"], "Body": ["Olá"]}


def test_twilio_sends_a_messaging_service_sid_as_the_sender_when_config_from_is_one():
    service = "MG" + "a" * 32
    config = {**TWILIO_CONFIG, "from": service}

    _, [request] = run_against(
        "sms_twilio", "sms_twilio.send_sms", {"phone": "11987654321", "message": "Oi"}, config=config
    )

    assert parse_qs(request.body.decode())["MessagingServiceSid"] == [service]
    assert "From" not in parse_qs(request.body.decode())


def test_zenvia_posts_a_text_content_to_the_e164_digits_with_its_api_token():
    _, [request] = run_against(
        "sms_zenvia", "sms_zenvia.send_sms", {"phone": "+55 11 98765-4321", "message": "Olá"}, config={"from": "acme"}
    )

    assert request.path == "/base/v2/channels/sms/messages"
    assert request.headers["X-API-TOKEN"] == "s3cret"
    assert request.json == {"from": "acme", "to": "5511987654321", "contents": [{"type": "text", "text": "Olá"}]}


@pytest.mark.parametrize(("kind", "config"), [("sms_twilio", TWILIO_CONFIG), ("sms_zenvia", {"from": "acme"})])
def test_an_sms_to_a_number_that_is_not_one_is_permanent_names_no_number_and_sends_nothing(kind, config):
    error, received = run_against(kind, f"{kind}.send_sms", {"phone": "12-34", "message": "Oi"}, config=config)

    assert type(error) is PermanentDeliveryError
    assert "12-34" not in str(error) and "Oi" not in str(error)
    assert received == []


def test_every_destination_kind_has_a_connector():
    assert set(CONNECTORS) == set(DESTINATIONS)


# -- refusing to send ------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "action"), [("crm", "crm.send_text"), ("zapi", "zapi.upsert_lead")])
def test_an_unknown_action_is_permanent_names_the_action_and_sends_nothing(kind, action):
    config = {"instance_id": "i", "token": "t"}

    error, received = run_against(kind, action, LEAD, config=config)

    assert type(error) is PermanentDeliveryError
    assert action in str(error)
    assert received == []


@pytest.mark.parametrize(
    ("kind", "payload"),
    [("zapi", {"message": "Oi"}), ("zapi", {"phone": "abc", "message": "Oi"}), ("waha", {"phone": "5511"})],
)
def test_a_message_without_recipient_or_text_is_permanent_and_names_fields_not_values(kind, payload):
    error, received = run_against(kind, f"{kind}.send_text", payload, config={"instance_id": "i", "token": "t"})

    assert type(error) is PermanentDeliveryError
    assert "Oi" not in str(error)
    assert received == []


@pytest.mark.parametrize(
    ("kind", "url", "config", "secret"),
    [
        ("sms", "https://sms.example.com", {}, "s"),
        ("crm", "https://crm.example.com", {}, None),
        ("zapi", "https://api.z-api.io", {"instance_id": "i"}, "s"),
        ("webhook", "https://hooks.example.com", {}, "not-a-whsec secret!"),
        ("crm", "https://crm.example.com", {"timeouts": {"read": 0}}, "s"),
        ("crm", "https://crm.example.com", {"statuses": {"success": [409], "permanent": [409]}}, "s"),
        ("crm", "https://crm.example.com", {"max_connections": 0}, "s"),
        ("crm", "http://crm.example.com", {}, "s"),
        ("crm", "https://169.254.169.254/latest", {}, "s"),
    ],
)
def test_a_connector_that_cannot_be_built_is_a_permanent_error(kind, url, config, secret):
    async def build():
        async with HttpClients(LOOPBACK) as clients:
            connector_for(kind, url=url, config=config, secret=secret, client=clients)

    with pytest.raises(PermanentDeliveryError) as raised:
        asyncio.run(build())
    assert "not-a-whsec" not in str(raised.value)


# -- outcomes --------------------------------------------------------------------------------------


def test_a_2xx_is_delivered_with_status_latency_an_excerpt_and_only_safe_headers():
    headers = {"X-Request-Id": "req-7", "Set-Cookie": "session=abc", "X-Lead-Email": "ana@example.com"}

    delivered, _ = run_against("crm", "crm.upsert_lead", LEAD, respond=answer(200, b'{"id":"L-9"}', headers))

    assert delivered.status == 200
    assert delivered.latency_ms > 0
    assert delivered.response_excerpt == '{"id":"L-9"}'
    assert dict(delivered.response_headers) == {"x-request-id": "req-7", "content-type": "application/json"}


def test_a_large_answer_is_cut_to_an_excerpt_not_treated_as_an_error():
    delivered, _ = run_against("crm", "crm.upsert_lead", LEAD, respond=answer(200, b"x" * 1_000_000))

    assert delivered.response_excerpt == "x" * 500


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_a_4xx_is_permanent_with_its_status(status):
    error, _ = run_against("crm", "crm.upsert_lead", LEAD, respond=answer(status))

    assert type(error) is PermanentDeliveryError
    assert error.status == status


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_a_5xx_or_408_is_transient_with_its_status(status):
    error, _ = run_against("crm", "crm.upsert_lead", LEAD, respond=answer(status))

    assert type(error) is TransientDeliveryError
    assert error.status == status


def test_a_429_is_transient_and_carries_retry_after():
    error, _ = run_against("crm", "crm.upsert_lead", LEAD, respond=answer(429, headers={"Retry-After": "17"}))

    assert type(error) is TransientDeliveryError
    assert (error.status, error.retry_after_s) == (429, 17)


def test_a_crm_configured_to_read_409_as_already_done_delivers():
    config = {"statuses": {"success": [409]}}

    delivered, _ = run_against("crm", "crm.upsert_lead", LEAD, respond=answer(409), config=config)

    assert delivered.status == 409


def test_a_redirect_is_not_followed_and_is_permanent():
    async def redirect(request):
        raise web.HTTPFound("/elsewhere")

    error, received = run_against("crm", "crm.upsert_lead", LEAD, respond=redirect)

    assert type(error) is PermanentDeliveryError
    assert error.status == 302
    assert [r.path for r in received] == ["/base/api/v1/leads"]


def test_a_destination_slower_than_the_read_timeout_is_transient():
    release = asyncio.Event()

    async def stall(request):
        await release.wait()
        return web.json_response({})

    async def scenario():
        async with destination(stall) as server:
            config = {"timeouts": {"read": 0.2, "total": 5}}
            try:
                with pytest.raises(TransientDeliveryError, match="timed out") as raised:
                    await deliver("crm", server.url(), "crm.upsert_lead", LEAD, config=config)
            finally:
                release.set()
            return raised.value

    error = asyncio.run(scenario())
    assert error.status is None


def test_a_refused_connection_is_transient():
    with pytest.raises(TransientDeliveryError, match="refused"):
        asyncio.run(deliver("crm", f"http://127.0.0.1:{free_port()}", "crm.upsert_lead", LEAD))


class FailingResolver(AbstractResolver):
    async def resolve(self, host, port=0, family=socket.AF_INET):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self):
        pass


def test_a_host_name_that_does_not_resolve_is_transient():
    with pytest.raises(TransientDeliveryError, match="did not resolve") as raised:
        asyncio.run(
            deliver("crm", "https://crm.example.com", "crm.upsert_lead", LEAD, resolver_factory=FailingResolver)
        )
    assert raised.value.status is None


async def reset_after_request(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    # SO_LINGER 0: close() sends a TCP RST instead of a FIN, as a crashed server or a middlebox would.
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def close_without_answer(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


@pytest.mark.parametrize("behaviour", [reset_after_request, close_without_answer])
def test_a_reset_or_dropped_connection_is_transient(behaviour):
    async def scenario():
        server = await asyncio.start_server(behaviour, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(TransientDeliveryError) as raised:
                await deliver("crm", f"http://127.0.0.1:{port}", "crm.upsert_lead", LEAD)
            return raised.value
        finally:
            server.close()
            await server.wait_closed()

    error = asyncio.run(scenario())
    assert error.status is None


def test_error_messages_never_carry_the_zapi_url_or_its_tokens():
    config = {"instance_id": "INSTANCE-ID", "token": "INSTANCE-TOKEN"}
    payload = {"phone": "5511999990000", "message": "Oi"}

    error, _ = run_against("zapi", "zapi.send_text", payload, respond=answer(503), config=config)
    with pytest.raises(TransientDeliveryError) as refused:
        asyncio.run(deliver("zapi", f"http://127.0.0.1:{free_port()}", "zapi.send_text", payload, config=config))

    for message in (str(error), str(refused.value)):
        assert "INSTANCE" not in message
        assert "s3cret" not in message
        assert "zapi (zapi.send_text)" in message


def test_deliveries_to_one_endpoint_reuse_a_kept_alive_connection():
    async def scenario():
        async with destination() as server, HttpClients(LOOPBACK) as clients:
            connector = connector_for("crm", url=server.url(), config={}, secret="s", client=clients)
            for _ in range(3):
                await connector.deliver(DELIVERY_ID, "crm.upsert_lead", LEAD)
            return {request.client_port for request in server.received}

    assert len(asyncio.run(scenario())) == 1


# -- the SSRF guard at connect time ----------------------------------------------------------------


class RebindingResolver(AbstractResolver):
    """A DNS answer we do not control: every name resolves to ``address``."""

    def __init__(self, address):
        self.address = address
        self.asked = []

    async def resolve(self, host, port=0, family=socket.AF_INET):
        self.asked.append(host)
        return [{"hostname": host, "host": self.address, "port": port, "family": family, "proto": 0, "flags": 0}]

    async def close(self):
        pass


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.1", "fd00::1"])
def test_a_public_name_resolving_to_an_internal_address_is_refused_at_connect_time(address):
    resolver = RebindingResolver(address)

    with pytest.raises(UnsafeDestinationError, match=r"crm\.example\.com"):
        asyncio.run(
            deliver("crm", "https://crm.example.com", "crm.upsert_lead", LEAD, resolver_factory=lambda: resolver)
        )
    assert resolver.asked == ["crm.example.com"]


def test_localhost_rebound_to_a_private_address_is_refused_even_with_loopback_allowed():
    resolver = RebindingResolver("10.0.0.1")

    with pytest.raises(UnsafeDestinationError, match="private"):
        asyncio.run(deliver("crm", "http://localhost:8080", "crm.upsert_lead", LEAD, resolver_factory=lambda: resolver))


def test_a_name_that_resolves_to_loopback_is_reached_when_loopback_is_allowed():
    async def scenario():
        async with destination() as server:
            url = f"http://localhost:{server.port}"
            delivered = await deliver(
                "crm", url, "crm.upsert_lead", LEAD, resolver_factory=lambda: RebindingResolver("127.0.0.1")
            )
            return delivered, server.received

    delivered, received = asyncio.run(scenario())
    assert delivered.status == 201
    assert len(received) == 1


# -- the same connectors against the sandbox destinations (infra/devtools/sandbox) ----------------------------


SMS_CONFIGS = {
    "sms_twilio": {"account_sid": "AC" + "0" * 32, "from": "+5511912345678"},
    "sms_zenvia": {"from": "crmbus"},
}


def sandbox_target(sandbox, contract):
    """(kind, url, config, action, payload) of a destination pointing at the sandbox system that
    serves ``contract``; the company's REST systems are rest destinations configured as seeded,
    their path parameters taken from the payload."""
    if contract.system == "webhook":
        url = sandbox.url_of("webhook") + contract.path.format(**contract.example_params)
        return "webhook", url, {}, contract.action, contract.example
    if contract.system in REST_SYSTEMS:
        [seed] = [seed for seed in SEED_DESTINATIONS if seed.name == contract.system]
        action = "rest." + contract.action.removeprefix(f"{contract.system}.")
        payload = {**contract.example, **contract.example_params}
        return "rest", sandbox.url_of(contract.system), seed.config, action, payload
    if contract.system in SMS_CONFIGS:
        config = SMS_CONFIGS[contract.system]
        return contract.system, sandbox.url_of(contract.system), config, contract.action, contract.delivered
    return (
        contract.system,
        sandbox.url_of(contract.system),
        dict(contract.example_params),
        contract.action,
        contract.delivered,
    )


def secret_for(contract):
    return WEBHOOK_SECRET if contract.system == "webhook" else "sandbox-secret"


@pytest.mark.parametrize("contract", CONTRACTS.values(), ids=lambda contract: contract.action)
def test_each_connector_is_accepted_by_the_sandbox_with_the_contracts_status_and_answer(contract):
    async def scenario():
        async with Sandbox() as sandbox, HttpClients(LOOPBACK) as clients:
            kind, url, config, action, payload = sandbox_target(sandbox, contract)
            connector = connector_for(kind, url=url, config=config, secret=secret_for(contract), client=clients)
            delivered = await connector.deliver(DELIVERY_ID, action, payload)
            return delivered, sandbox.applied(contract.system)

    delivered, applied = asyncio.run(scenario())

    assert delivered.status in contract.statuses
    if contract.response:
        assert set(contract.response) <= set(orjson.loads(delivered.response_excerpt))
    mine = [received for received in applied if received.action == contract.action]
    assert [received.idempotency_key for received in mine] == [DELIVERY_ID]
    if contract.system not in REST_SYSTEMS:  # a rest action's body is the route's payload, path fields too
        assert mine[0].body == contract.example  # the connector sends exactly the provider's documented shape


def test_a_redelivery_with_the_same_id_is_applied_once_by_the_sandbox():
    async def scenario():
        async with Sandbox() as sandbox, HttpClients(LOOPBACK) as clients:
            connector = connector_for("crm", url=sandbox.url_of("crm"), config={}, secret="s", client=clients)
            for _ in range(2):
                await connector.deliver(DELIVERY_ID, "crm.upsert_lead", LEAD)
            return len(sandbox.requests("crm")), len(sandbox.applied("crm"))

    assert asyncio.run(scenario()) == (2, 1)


def test_the_sandboxs_faults_become_the_right_outcomes():
    async def scenario():
        async with Sandbox() as sandbox, HttpClients(LOOPBACK) as clients:
            config = {"timeouts": {"read": 0.2}}
            connector = connector_for("crm", url=sandbox.url_of("crm"), config=config, secret="s", client=clients)
            outcomes = []
            for fault in (
                lambda: sandbox.fail("crm", 429, retry_after=7),
                lambda: sandbox.fail("crm", 422),
                lambda: sandbox.reset("crm"),
                lambda: sandbox.slow("crm", 1.0),
            ):
                fault()
                try:
                    await connector.deliver(DELIVERY_ID, "crm.upsert_lead", LEAD)
                except (TransientDeliveryError, PermanentDeliveryError) as error:
                    outcomes.append((type(error), error.status, error.retry_after_s))
            sandbox.heal("crm")
            return outcomes

    assert asyncio.run(scenario()) == [
        (TransientDeliveryError, 429, 7),
        (PermanentDeliveryError, 422, None),
        (TransientDeliveryError, None, None),
        (TransientDeliveryError, None, None),
    ]
