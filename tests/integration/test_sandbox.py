"""The sandbox destinations, spoken to over real HTTP on loopback as the delivery sinks will.

Each system answers its contract's example with the contract's shape, refuses requests without
credentials, acts once per Idempotency-Key, and fails on demand in each way a real system fails.
"""

import asyncio
import os
import signal
import subprocess
import sys

import aiohttp
import httpx
import pytest

from infra.devtools.sandbox import CONTRACTS, SYSTEMS, Sandbox, SandboxClient
from infra.devtools.sandbox.contracts import LISTINGS, REST_SYSTEMS, TOKEN_PATH
from streams.deadlines import wait_until
from streams.routes import DESTINATIONS
from streams.seed_flows import SEED_DESTINATIONS, SEED_ROUTES
from tests.conftest import free_port

CREDENTIALS = {
    "bearer": {"Authorization": "Bearer sandbox-token"},
    "client-token": {"Client-Token": "account-security-token"},
    "api-key": {"X-Api-Key": "waha-key"},
    "basic": {"Authorization": "Basic Y3JtYnVzOnNlY3JldA=="},
    "api-token": {"X-API-TOKEN": "zenvia-token"},
    "none": {},
}
LEAD = CONTRACTS["crm.upsert_lead"]
ZAPI = CONTRACTS["zapi.send_text"]
WAHA = CONTRACTS["waha.send_text"]
TWILIO = CONTRACTS["sms_twilio.send_sms"]
ZENVIA = CONTRACTS["sms_zenvia.send_sms"]


def with_sandbox(test):
    """Run an async test body against a fresh in-process sandbox and an aiohttp client."""

    def run():
        async def scenario():
            async with Sandbox() as sandbox, aiohttp.ClientSession() as client:
                await test(sandbox, Caller(sandbox, client))

        asyncio.run(scenario())

    run.__name__, run.__doc__ = test.__name__, test.__doc__
    return run


class Caller:
    """Calls a contract on the sandbox as a connector would: its URL, its credential, its encoding."""

    def __init__(self, sandbox, client):
        self.sandbox, self.client = sandbox, client

    async def __call__(self, contract, body=None, headers=None, credentials=True, timeout_s=5.0):
        url = contract.url(self.sandbox.url_of(contract.system), **contract.example_params)
        sent = {**((await self.credentials(contract.auth)) if credentials else {}), **(headers or {})}
        payload = contract.example if body is None else body
        body_as = {"data": payload} if contract.encoding == "form" else {"json": payload}
        async with self.client.request(
            contract.method, url, **body_as, headers=sent, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as response:
            return response.status, response.headers, await response.json() if response.content_length else None

    async def credentials(self, auth):
        if auth != "oauth2":
            return CREDENTIALS[auth]
        return {"Authorization": f"Bearer {(await self.token())['access_token']}"}

    async def token(self, **form):
        form = {"grant_type": "client_credentials", "client_id": "crmbus", "client_secret": "s", **form}
        async with self.client.post(self.sandbox.url_of("cuidadores") + TOKEN_PATH, data=form) as response:
            return await response.json()

    async def list(self, system, auth=None, **query):
        listing = LISTINGS[system]
        headers = auth if auth is not None else await self.credentials(listing.auth)
        url = self.sandbox.url_of(system) + listing.path
        async with self.client.get(url, params=query, headers=headers) as response:
            return response.status, response.headers, await response.json()


def test_the_sandbox_has_a_contract_for_every_destination_and_seed_action():
    assert set(SYSTEMS) - set(REST_SYSTEMS) == set(DESTINATIONS) - {"rest"}
    assert {seed.path for seed in SEED_DESTINATIONS} <= {f"/{system}" for system in SYSTEMS}
    for route in SEED_ROUTES:
        assert CONTRACTS[route.action].system == route.destination


def test_each_rest_seed_destination_names_its_systems_push_contracts_with_their_method_and_path():
    seeded = {seed.name: seed for seed in SEED_DESTINATIONS if seed.kind == "rest"}
    assert set(seeded) == set(REST_SYSTEMS)
    for system, seed in seeded.items():
        contracts = {c.action: c for c in CONTRACTS.values() if c.system == system}
        assert {f"{system}.{name}" for name in seed.config["actions"]} == set(contracts)
        for name, spec in seed.config["actions"].items():
            contract = contracts[f"{system}.{name}"]
            assert (spec["method"], spec["path"]) == (contract.method, contract.path)
        auth = {"bearer": "bearer", "api_key": "api-key", "basic": "basic", "oauth2_client_credentials": "oauth2"}
        assert auth[seed.config["auth"]["type"]] == LISTINGS[system].auth == next(iter(contracts.values())).auth


@pytest.mark.parametrize("action", CONTRACTS)
def test_each_contract_answers_its_example_with_its_success_shape(action):
    contract = CONTRACTS[action]

    @with_sandbox
    async def scenario(sandbox, call):
        status, _, body = await call(contract)
        assert status == contract.statuses[0]
        assert (set(body) if body is not None else set()) == set(contract.response)
        # Cuidadores' token request is recorded too: the action's own request is the one to check.
        [received] = [r for r in sandbox.applied(contract.system) if r.action == action]
        assert (received.body, received.status) == (contract.example, status)

    scenario()


@pytest.mark.parametrize("action", [action for action, contract in CONTRACTS.items() if contract.auth != "none"])
def test_a_request_without_its_credential_is_401_and_not_applied(action):
    contract = CONTRACTS[action]

    @with_sandbox
    async def scenario(sandbox, call):
        status, _, body = await call(contract, credentials=False)
        assert status == 401
        assert body["error"] == "unauthorized"
        assert sandbox.applied(contract.system) == []
        assert [received.status for received in sandbox.requests(contract.system)] == [401]

    scenario()


@with_sandbox
async def test_an_empty_bearer_token_is_401(sandbox, call):
    status, _, _ = await call(LEAD, headers={"Authorization": "Bearer "}, credentials=False)
    assert status == 401


@with_sandbox
async def test_the_crm_creates_a_lead_then_updates_the_same_lead(sandbox, call):
    first = await call(LEAD, body={"event_id": "e-1", "name": "Cliente"})
    again = await call(LEAD, body={"event_id": "e-1", "name": "Cliente Atualizada"})
    other = await call(LEAD, body={"lead_id": "L-9", "event_id": "e-2"})
    assert first[0] == 201 and first[2]["status"] == "created" and first[2]["id"].startswith("lead_")
    assert again[0] == 200 and again[2] == {"id": first[2]["id"], "status": "updated"}
    assert other[0] == 201 and other[2]["id"] != first[2]["id"]
    assert (await call(LEAD, body={"name": "Sem id"}))[0] == 400


@with_sandbox
async def test_financeiro_opens_an_invoice(sandbox, call):
    status, _, body = await call(CONTRACTS["financeiro.create_invoice"])
    assert status == 201
    assert body["status"] == "open" and body["id"].startswith("INV-")
    status, _, body = await call(CONTRACTS["financeiro.create_invoice"], body={"client_id": "C-1"})
    assert (status, body["error"], body["message"]) == (400, "missing_fields", "required: service_id")


@with_sandbox
async def test_zapi_sends_a_text_to_digits_only_and_refuses_a_formatted_phone(sandbox, call):
    status, _, body = await call(ZAPI)
    assert status == 200
    assert body["id"] == body["messageId"] and len(body["zaapId"]) == 32
    status, _, body = await call(ZAPI, body={"phone": "+55 (11) 98765-4321", "message": "Olá"})
    assert status == 400
    assert set(body) == {"error", "message"}
    status, _, body = await call(ZAPI, body={"phone": "5511987654321"})
    assert (status, body["message"]) == (400, "required: message")


@with_sandbox
async def test_waha_answers_the_sent_message_and_refuses_a_chat_id_outside_c_us(sandbox, call):
    status, _, body = await call(WAHA)
    assert status == 201
    assert body["id"].startswith("true_5511987654321@c.us_") and isinstance(body["timestamp"], int)
    for chat_id in ("5511987654321@g.us", "5511987654321", "abc@c.us"):
        assert (await call(WAHA, body={"session": "default", "chatId": chat_id, "text": "Oi"}))[0] == 400


@pytest.mark.parametrize(
    ("action", "change"),
    [
        ("zapi.send_image", {"phone": "+55 11 98765-4321"}),
        ("zapi.send_buttons", {"buttonList": {"buttons": [{"id": "sim"}]}}),
        ("zapi.send_list", {"optionList": {"title": "Horários", "options": [{"id": "m", "title": "Manhã"}]}}),
        ("waha.send_image", {"file": {"mimetype": "image/jpeg"}}),
        ("waha.send_buttons", {"buttons": []}),
        ("waha.send_list", {"message": {"title": "Horários", "button": "Ver", "sections": [{"title": "Manhã"}]}}),
    ],
)
def test_whatsapp_media_buttons_and_lists_without_their_parts_are_400_and_not_applied(action, change):
    contract = CONTRACTS[action]

    @with_sandbox
    async def scenario(sandbox, call):
        status, _, body = await call(contract, body={**contract.example, **change})
        assert status == 400 and set(body) == {"error", "message"}
        assert sandbox.applied(contract.system) == []

    scenario()


@with_sandbox
async def test_twilio_queues_an_sms_to_an_e164_number_from_a_sender_and_refuses_others(sandbox, call):
    status, _, body = await call(TWILIO)
    assert (status, body["status"], body["to"]) == (201, "queued", "+5511987654321")
    assert body["sid"].startswith("SM") and len(body["sid"]) == 34
    assert (await call(TWILIO, body={**TWILIO.example, "To": "5511987654321"}))[0] == 400
    assert (await call(TWILIO, body={"To": "+5511987654321", "Body": "Oi"}))[2]["error"] == "missing_fields"
    assert (await call(TWILIO, headers={"Authorization": "Bearer x"}, credentials=False))[0] == 401


@with_sandbox
async def test_zenvia_sends_text_contents_to_e164_digits_and_refuses_others(sandbox, call):
    status, _, body = await call(ZENVIA)
    assert (status, body["channel"], body["direction"], body["to"]) == (200, "sms", "OUT", "5511987654321")
    assert (await call(ZENVIA, body={**ZENVIA.example, "to": "+5511987654321"}))[0] == 400
    image = [{"type": "file", "fileUrl": "https://example.com.br/a.png"}]
    assert (await call(ZENVIA, body={**ZENVIA.example, "contents": image}))[2]["error"] == "invalid_contents"


@with_sandbox
async def test_an_email_without_a_recipient_is_refused(sandbox, call):
    status, _, body = await call(CONTRACTS["email.send_template"], body={"template": "boas_vindas"})
    assert (status, body["message"]) == (400, "required: to")


@with_sandbox
async def test_a_body_that_is_not_json_is_400(sandbox, call):
    url = LEAD.url(sandbox.url_of("crm"))
    async with call.client.post(url, data=b"{not json", headers=CREDENTIALS["bearer"]) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_json"


@with_sandbox
async def test_the_webhook_receiver_records_the_standard_webhooks_headers(sandbox, call):
    signed = {"webhook-id": "msg_1", "webhook-timestamp": "1767225600", "webhook-signature": "v1,c2lnbmF0dXJl"}
    status, _, body = await call(CONTRACTS["webhook.deliver"], body=[1, "any", {"json": True}], headers=signed)
    assert (status, body) == (204, None)
    [received] = sandbox.requests("webhook")
    assert received.path == "/webhook/crm-events"
    assert received.body == [1, "any", {"json": True}]
    assert {name: received.headers[name] for name in signed} == signed


@with_sandbox
async def test_recorded_requests_keep_no_credentials(sandbox, call):
    await call(ZAPI, headers={"Idempotency-Key": "k-1"})
    await call(LEAD)
    [zapi] = sandbox.requests("zapi")
    [crm] = sandbox.requests("crm")
    assert zapi.path == "/zapi/instances/demo/token/***/send-text"
    assert "Client-Token" not in zapi.headers and zapi.idempotency_key == "k-1"
    assert "Authorization" not in crm.headers


@with_sandbox
async def test_duplicate_idempotency_key_is_applied_once_and_replays_the_first_answer(sandbox, call):
    key = {"Idempotency-Key": "delivery-1"}
    first = await call(ZAPI, headers=key)
    second = await call(ZAPI, headers=key)
    other = await call(ZAPI, headers={"Idempotency-Key": "delivery-2"})
    assert second[0] == first[0] == 200
    assert second[2] == first[2] and other[2] != first[2]
    assert second[1]["Idempotent-Replayed"] == "true"
    assert [(r.idempotency_key, r.duplicate) for r in sandbox.requests("zapi")] == [
        ("delivery-1", False),
        ("delivery-1", True),
        ("delivery-2", False),
    ]
    assert [r.idempotency_key for r in sandbox.applied("zapi")] == ["delivery-1", "delivery-2"]


@with_sandbox
async def test_an_idempotency_key_is_per_system(sandbox, call):
    key = {"Idempotency-Key": "shared"}
    await call(ZAPI, headers=key)
    await call(WAHA, headers=key)
    assert len(sandbox.applied("zapi")) == len(sandbox.applied("waha")) == 1


@with_sandbox
async def test_an_idempotency_key_reused_with_another_body_is_422_and_not_applied(sandbox, call):
    key = {"Idempotency-Key": "delivery-1"}
    await call(ZAPI, headers=key)
    status, _, body = await call(ZAPI, body={"phone": "5511900000000", "message": "outra"}, headers=key)
    assert (status, body["error"]) == (422, "idempotency_key_reused")
    assert len(sandbox.applied("zapi")) == 1


@with_sandbox
async def test_a_failed_attempt_does_not_use_up_its_idempotency_key(sandbox, call):
    key = {"Idempotency-Key": "delivery-1"}
    sandbox.fail("crm", status=503, count=1)
    assert (await call(LEAD, headers=key))[0] == 503
    assert (await call(LEAD, headers=key))[0] == 201
    assert (await call(LEAD, headers=key))[0] == 201
    assert [(r.status, r.duplicate, r.applied) for r in sandbox.requests("crm")] == [
        (503, False, False),
        (201, False, True),
        (201, True, False),
    ]


@with_sandbox
async def test_a_status_failure_answers_with_retry_after_until_its_count_runs_out(sandbox, call):
    sandbox.fail("zapi", status=429, count=2, retry_after=7)
    answers = [await call(ZAPI) for _ in range(3)]
    assert [status for status, _, _ in answers] == [429, 429, 200]
    assert [headers.get("Retry-After") for _, headers, _ in answers] == ["7", "7", None]
    assert answers[0][2]["error"] == "injected_failure"
    assert len(sandbox.applied("zapi")) == 1
    assert (await call(LEAD))[0] == 201, "a failure belongs to one system"


@with_sandbox
async def test_a_failure_without_a_count_lasts_until_healed(sandbox, call):
    sandbox.fail("financeiro", status=500)
    contract = CONTRACTS["financeiro.create_customer"]
    statuses = [(await call(contract))[0] for _ in range(5)]
    sandbox.heal("financeiro")
    assert statuses == [500] * 5
    assert (await call(contract))[0] == 201
    assert "Retry-After" not in (await call(contract))[1]


@with_sandbox
async def test_a_slow_system_acts_but_answers_after_the_client_gave_up(sandbox, call):
    key = {"Idempotency-Key": "delivery-1"}
    sandbox.slow("crm", delay_s=5, count=1)
    with pytest.raises(asyncio.TimeoutError):
        await call(LEAD, headers=key, timeout_s=0.2)
    status, headers, _ = await call(LEAD, headers=key, timeout_s=2)
    assert status == 201 and headers["Idempotent-Replayed"] == "true"
    assert [(r.duplicate, r.applied) for r in sandbox.requests("crm")] == [(False, True), (True, False)]


@with_sandbox
async def test_a_reset_closes_the_connection_without_acting(sandbox, call):
    sandbox.reset("financeiro", count=1)
    contract = CONTRACTS["financeiro.create_invoice"]
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(contract)
    assert (await call(contract))[0] == 201
    assert [(r.status, r.applied) for r in sandbox.requests("financeiro")] == [(None, False), (201, True)]


@with_sandbox
async def test_the_control_api_fails_lists_and_clears(sandbox, call):
    control = f"{sandbox.url}/_control"
    async with call.client.get(f"{control}/health") as response:
        assert response.status == 200
    failure = {"mode": "status", "status": 503, "retry_after": 1, "count": 1}
    async with call.client.post(f"{control}/zapi/failures", json=failure) as response:
        assert response.status == 204
    assert (await call(ZAPI))[0] == 503
    assert (await call(ZAPI))[0] == 200
    async with call.client.get(f"{control}/zapi/requests") as response:
        listed = (await response.json())["requests"]
    assert [(r["status"], r["applied"]) for r in listed] == [(503, False), (200, True)]
    assert listed[1]["body"] == ZAPI.example and listed[1]["at"] >= listed[0]["at"]
    async with call.client.delete(f"{control}/requests") as response:
        assert response.status == 204
    assert sandbox.requests("zapi") == []


@with_sandbox
async def test_the_control_api_refuses_a_failure_it_cannot_show(sandbox, call):
    control = f"{sandbox.url}/_control"
    for failure in ({"mode": "status"}, {"mode": "explode"}, {"mode": "slow", "delay_s": -1}, {"status": 503}):
        async with call.client.post(f"{control}/crm/failures", json=failure) as response:
            assert response.status == 400, failure
            assert (await response.json())["error"] == "invalid_failure"
    async with call.client.post(f"{control}/ftp/failures", json={"mode": "ok"}) as response:
        assert response.status == 404
    assert (await call(LEAD))[0] == 201


@with_sandbox
async def test_clearing_forgets_requests_keys_and_leads_but_not_failures(sandbox, call):
    key = {"Idempotency-Key": "delivery-1"}
    await call(LEAD, headers=key)
    sandbox.fail("zapi", status=503)
    sandbox.clear()
    status, headers, body = await call(LEAD, headers=key)
    assert (status, body["status"]) == (201, "created") and "Idempotent-Replayed" not in headers
    assert (await call(ZAPI))[0] == 503


@pytest.fixture
def sandbox_process(tmp_path):
    port = free_port()
    log_path = tmp_path / "sandbox.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra", "sandbox", "--port", str(port)], stdout=log, stderr=log, env=os.environ
        )
    with SandboxClient(f"http://127.0.0.1:{port}") as client:
        try:
            wait_until(client.healthy, 30, "crmbus sandbox /_control/health")
            yield process, client, log_path
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_whatsapp_sessions_answer_their_health_calls_connected_until_a_test_disconnects_them(sandbox_process):
    _, sandbox, _ = sandbox_process
    zapi_status = f"{sandbox.url_of('zapi')}/instances/demo/token/secret/status"
    waha_session = f"{sandbox.url_of('waha')}/api/sessions/default"
    assert httpx.get(zapi_status, headers=CREDENTIALS["client-token"]).json()["connected"] is True
    assert httpx.get(waha_session, headers=CREDENTIALS["api-key"]).json() == {"name": "default", "status": "WORKING"}
    sandbox.session("zapi", "demo", "STOPPED")
    sandbox.session("waha", "default", "FAILED")
    assert httpx.get(zapi_status, headers=CREDENTIALS["client-token"]).json() == {
        "connected": False, "error": "You are not connected.", "smartphoneConnected": False,
    }  # fmt: skip
    assert httpx.get(waha_session, headers=CREDENTIALS["api-key"]).json()["status"] == "FAILED"
    assert httpx.get(waha_session).status_code == 401
    sandbox.fail("waha", status=502, count=1)
    assert httpx.get(waha_session, headers=CREDENTIALS["api-key"]).status_code == 502
    with pytest.raises(httpx.HTTPStatusError):
        sandbox.session("waha", "default", "ASLEEP")
    sandbox.session("waha", "default", "WORKING")
    sandbox.session("zapi", "demo", "WORKING")


def test_crmbus_sandbox_runs_out_of_process_driven_by_its_control_api(sandbox_process):
    process, sandbox, log_path = sandbox_process
    zapi_url = ZAPI.url(sandbox.url_of("zapi"), instance_id="demo", token="demo")
    sent = {"json": ZAPI.example, "headers": {**CREDENTIALS["client-token"], "Idempotency-Key": "d-1"}}
    sandbox.fail("zapi", status=503, count=1, retry_after=2)
    failed = httpx.post(zapi_url, **sent)
    assert (failed.status_code, failed.headers["Retry-After"]) == (503, "2")
    assert httpx.post(zapi_url, **sent).status_code == 200
    assert httpx.post(zapi_url, **sent).headers["Idempotent-Replayed"] == "true"
    assert [r.status for r in sandbox.requests("zapi")] == [503, 200, 200]
    assert [r.body for r in sandbox.applied("zapi")] == [ZAPI.example]
    sandbox.clear()
    assert sandbox.requests("zapi") == []

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    log = log_path.read_text()
    assert '"system": "zapi"' in log and '"status": 503' in log
    assert ZAPI.example["phone"] not in log and ZAPI.example["message"] not in log


# -- the company's REST systems: list endpoints and Cuidadores' OAuth2 --------------------------------


@with_sandbox
async def test_cuidadores_issues_short_lived_tokens_and_refuses_an_expired_one_with_401(sandbox, call):
    sandbox.token_lifetime(0.2)
    token = await call.token()
    assert (token["token_type"], token["expires_in"]) == ("Bearer", 0.2)
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert (await call.list("cuidadores", auth=bearer))[0] == 200
    # Waiting out the token's lifetime is the scenario here, not synchronisation.
    await asyncio.sleep(0.3)
    status, _, body = await call.list("cuidadores", auth=bearer)
    assert (status, body["error"]) == (401, "invalid_token")
    assert (await call.list("cuidadores", auth={"Authorization": "Bearer made-up"}))[0] == 401
    tokens = [r for r in sandbox.requests("cuidadores") if r.action == "cuidadores.token"]
    assert [r.status for r in tokens] == [200]


@with_sandbox
async def test_the_token_endpoint_takes_basic_or_form_client_auth_and_refuses_no_client(sandbox, call):
    async def status(headers=None, **form):
        async with call.client.post(sandbox.url_of("cuidadores") + TOKEN_PATH, data=form, headers=headers) as r:
            return r.status, await r.json()

    assert (await status(CREDENTIALS["basic"], grant_type="client_credentials"))[0] == 200
    assert (await status(grant_type="client_credentials", client_id="crmbus", client_secret="s"))[0] == 200
    assert (await status(grant_type="client_credentials"))[1]["error"] == "invalid_client"
    assert (await status(grant_type="password"))[1]["error"] == "unsupported_grant_type"


def ids(items):
    return [item["id"] for item in items]


@with_sandbox
async def test_agenda_lists_by_cursor_and_a_booking_appears_after_the_seeded_records(sandbox, call):
    status, _, booked = await call(CONTRACTS["agenda.book"])
    assert status == 201
    seen, cursor = [], None
    while True:
        _, _, page = await call.list("agenda", limit="2", **({"cursor": cursor} if cursor else {}))
        seen += ids(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["AGD-0", "AGD-1", "AGD-2", "AGD-3", "AGD-4", booked["id"]]
    _, _, page = await call.list("agenda", updated_since=booked["updated_at"])
    assert (ids(page["items"]), page["next_cursor"]) == ([booked["id"]], None)


@with_sandbox
async def test_cuidadores_lists_a_json_array_with_a_link_to_the_next_page(sandbox, call):
    _, headers, first = await call.list("cuidadores", per_page="3")
    assert ids(first) == ["CG-0", "CG-1", "CG-2"]
    next_url = headers["Link"].removeprefix("<").split(">;")[0]
    assert headers["Link"].endswith('rel="next"')
    async with call.client.get(next_url, headers=await call.credentials("oauth2")) as response:
        assert ids(await response.json()) == ["CG-3", "CG-4"]
        assert "Link" not in response.headers


@with_sandbox
async def test_operacao_lists_completed_services_by_offset_with_the_total(sandbox, call):
    await call(CONTRACTS["operacao.upsert_service"])
    _, _, page = await call.list("operacao", status="completed", offset="1", limit="2")
    assert (ids(page["items"]), page["total"]) == (["S-2", "S-3"], 5)
    _, _, rest = await call.list("operacao", status="completed", offset="4", limit="2")
    assert ids(rest["items"]) == ["S-100"]


@with_sandbox
async def test_atendimento_lists_by_page_number_and_a_bad_query_is_400(sandbox, call):
    _, _, page = await call.list("atendimento", page="2", per_page="2")
    assert (ids(page["items"]), page["page"], page["pages"]) == (["TCK-2", "TCK-3"], 2, 3)
    status, _, body = await call.list("atendimento", updated_since="yesterday")
    assert (status, body["error"]) == (400, "invalid_query")


@with_sandbox
async def test_documentos_lists_changes_after_the_cursor_it_returned(sandbox, call):
    _, _, first = await call.list("documentos")
    assert (ids(first["items"]), first["has_more"]) == (["DOC-0", "DOC-1", "DOC-2", "DOC-3"], False)
    _, _, none_yet = await call.list("documentos", cursor=first["next_cursor"])
    assert (none_yet["items"], none_yet["next_cursor"]) == ([], first["next_cursor"])
    _, _, stored = await call(CONTRACTS["documentos.store_document"])
    _, _, after = await call.list("documentos", cursor=first["next_cursor"])
    assert ids(after["items"]) == [stored["id"]]


@pytest.mark.parametrize("system", REST_SYSTEMS)
def test_each_list_endpoint_needs_its_credential(system):
    @with_sandbox
    async def scenario(sandbox, call):
        status, _, body = await call.list(system, auth={})
        assert (status, body["error"]) == (401, "unauthorized")

    scenario()


def test_the_control_api_sets_cuidadores_token_lifetime_out_of_process(sandbox_process):
    _, sandbox, _ = sandbox_process
    token_url = sandbox.url_of("cuidadores") + TOKEN_PATH
    form = {"grant_type": "client_credentials", "client_id": "crmbus", "client_secret": "s"}
    assert httpx.post(token_url, data=form).json()["expires_in"] == 3600
    sandbox.token_lifetime(5)
    assert httpx.post(token_url, data=form).json()["expires_in"] == 5
    with pytest.raises(httpx.HTTPStatusError):
        sandbox.token_lifetime(0)
    assert [r.action for r in sandbox.requests("cuidadores")] == ["cuidadores.token", "cuidadores.token"]
