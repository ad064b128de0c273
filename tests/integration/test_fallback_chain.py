"""The WhatsApp fallback chain, run as a real `crmbus worker` against `crmbus sandbox`: while
Z-API's circuit is open a text goes through WAHA, and while WAHA's is open too it goes out as an
SMS, through Twilio or Zenvia, in that provider's shape; each message is sent once in all. An
image takes the same road: Z-API's send-image, then WAHA's sendImage, then an SMS carrying its
caption and link."""

from __future__ import annotations

import pytest

from infra.db.endpoints import Endpoints
from infra.db.routes import Routes
from infra.devtools.sandbox import SandboxClient
from streams.routes import delivery_id
from tests.integration.test_delivery import SEEDED, keys, lead, until, workers
from tests.integration.worker_harness import Bus

TEXT = "Olá, Maria! Recebemos seu contato e em breve nossa equipe vai falar com você por aqui."
SMS = {
    "sms_twilio": ({"account_sid": "AC" + "0" * 32, "from": "+5511912345678"}, "sandbox-twilio-auth-token"),
    "sms_zenvia": ({"from": "crmbus"}, "sandbox-zenvia-api-token"),
}
SENT_AS = {
    "sms_twilio": {"To": "+5511987654321", "From": "+5511912345678", "Body": TEXT},
    "sms_zenvia": {"from": "crmbus", "to": "5511987654321", "contents": [{"type": "text", "text": TEXT}]},
}


def whatsapp_ids(bus: Bus, leads: list) -> set[str]:
    """The delivery ids of the leads' WhatsApp replies (the seed route to Z-API)."""
    (route,) = [r for r in bus.routes_of("lead.created") if r.destination == "zapi"]
    return {delivery_id(e.event_id, route.id) for e in leads}


@pytest.fixture
def wired(bus: Bus, sandbox: SandboxClient) -> Bus:
    """The test tenant's seed destinations point at the sandbox, with credentials; nothing fails."""
    sandbox.clear()
    endpoints = Endpoints(bus.engine, bus.box(), actor="test")
    for system in SEEDED:
        sandbox.heal(system)
        endpoints.update(bus.tenant, system, url=sandbox.url_of(system), secret=f"sandbox-{system}-token")
    return bus


@pytest.mark.timeout(420)
@pytest.mark.parametrize("kind", sorted(SMS))
def test_a_whatsapp_text_goes_through_waha_and_with_its_circuit_open_too_as_one_sms(wired, sandbox, kind):
    endpoints = Endpoints(wired.engine, wired.box(), actor="test")
    config, secret = SMS[kind]
    endpoints.add(wired.tenant, "sms", kind, sandbox.url_of(kind), config=config, secret=secret)
    endpoints.add(
        wired.tenant, "waha", "waha", sandbox.url_of("waha"), config={"fallback": "sms"}, secret="sandbox-waha-key"
    )
    endpoints.update(wired.tenant, "zapi", config={"fallback": "waha"})
    for system in ("waha", kind):
        sandbox.heal(system)
    sandbox.fail("zapi", status=503)
    first, through_waha = [lead(wired) for _ in range(10)], [lead(wired) for _ in range(5)]
    opening_waha, as_sms = [lead(wired) for _ in range(10)], [lead(wired) for _ in range(5)]
    running = workers(wired).start()
    try:
        wired.lane.send(first)
        until(lambda: len(sandbox.requests("zapi")) >= 5, 90, "the failed Z-API replies that open its circuit")
        wired.lane.send(through_waha)
        until(lambda: whatsapp_ids(wired, through_waha) <= set(keys(sandbox.applied("waha"))), 90, "WAHA")
        sandbox.fail("waha", status=503)
        wired.lane.send(opening_waha)
        until(lambda: sum(r.status == 503 for r in sandbox.requests("waha")) >= 5, 90, "WAHA's circuit opening")
        wired.lane.send(as_sms)
        wanted = whatsapp_ids(wired, opening_waha + as_sms)  # neither Z-API nor WAHA takes any of these
        until(lambda: wanted <= set(keys(sandbox.applied(kind))), 240, f"every later reply as an SMS by {kind}")
    finally:
        running.stop()
    sent = [r for r in sandbox.applied(kind) if r.idempotency_key in wanted]
    assert {str(r.body) for r in sent} == {str(SENT_AS[kind])}
    every = [k for system in ("zapi", "waha", kind) for k in keys(sandbox.applied(system))]
    assert len(every) == len(set(every))  # no reply went out twice, through one provider or two
    sms_calls = keys(sandbox.requests(kind))
    assert len(sms_calls) == len(set(sms_calls))  # and no SMS was even asked for twice
    assert whatsapp_ids(wired, first + through_waha + opening_waha + as_sms) >= set(every)


@pytest.mark.timeout(420)
def test_a_whatsapp_image_reaches_z_api_then_with_its_circuit_open_waha_then_an_sms(wired, sandbox):
    endpoints = Endpoints(wired.engine, wired.box(), actor="test")
    config, secret = SMS["sms_twilio"]
    endpoints.add(wired.tenant, "sms", "sms_twilio", sandbox.url_of("sms_twilio"), config=config, secret=secret)
    endpoints.add(
        wired.tenant, "waha", "waha", sandbox.url_of("waha"), config={"fallback": "sms"}, secret="sandbox-waha-key"
    )
    endpoints.update(wired.tenant, "zapi", config={"fallback": "waha"})
    routes = Routes(wired.engine, actor="test")
    for seeded in routes.list(wired.tenant):  # the image is the only message each lead sends
        routes.disable(seeded.id)
    image = f"{sandbox.url}/arquivos/boas-vindas.jpg"  # loopback: the workers' policy allows it here
    route = routes.add(
        wired.tenant,
        "lead.created",
        "zapi",
        "zapi.send_image",
        mapping={"fields": {"phone": {"from": "phone", "format": "phone_digits"}, "url": {"const": image},
                            "caption": {"const": "Seja bem-vinda!"}}},
    )  # fmt: skip
    for system in ("zapi", "waha", "sms_twilio"):
        sandbox.heal(system)

    def ids(leads: list) -> set[str]:
        return {delivery_id(e.event_id, route.id) for e in leads}

    direct, opening_zapi, through_waha = (
        [lead(wired)],
        [lead(wired) for _ in range(10)],
        [lead(wired) for _ in range(3)],
    )
    opening_waha, as_sms = [lead(wired) for _ in range(10)], [lead(wired) for _ in range(3)]
    running = workers(wired).start()
    try:
        wired.lane.send(direct)
        until(lambda: ids(direct) <= set(keys(sandbox.applied("zapi"))), 90, "the image through Z-API")
        sandbox.fail("zapi", status=503)
        wired.lane.send(opening_zapi)
        until(lambda: sum(r.status == 503 for r in sandbox.requests("zapi")) >= 5, 90, "Z-API's circuit opening")
        wired.lane.send(through_waha)
        until(lambda: ids(through_waha) <= set(keys(sandbox.applied("waha"))), 90, "the images through WAHA")
        sandbox.fail("waha", status=503)
        wired.lane.send(opening_waha)
        until(lambda: sum(r.status == 503 for r in sandbox.requests("waha")) >= 5, 90, "WAHA's circuit opening")
        wired.lane.send(as_sms)
        until(lambda: ids(as_sms) <= set(keys(sandbox.applied("sms_twilio"))), 240, "the images as SMS")
    finally:
        running.stop()
    [by_zapi] = [r for r in sandbox.applied("zapi") if r.idempotency_key in ids(direct)]
    assert by_zapi.path.endswith("/send-image")
    assert by_zapi.body == {"phone": "5511987654321", "image": image, "caption": "Seja bem-vinda!"}
    by_waha = [r for r in sandbox.applied("waha") if r.idempotency_key in ids(through_waha)]
    assert {r.path for r in by_waha} == {"/waha/api/sendImage"}
    assert {r.body["file"]["url"] for r in by_waha} == {image}
    by_sms = [r for r in sandbox.applied("sms_twilio") if r.idempotency_key in ids(as_sms)]
    assert {r.body["Body"] for r in by_sms} == {f"Seja bem-vinda!\n{image}"}
    every = [k for system in ("zapi", "waha", "sms_twilio") for k in keys(sandbox.applied(system))]
    assert len(every) == len(set(every))  # no image went out twice, through one provider or two
