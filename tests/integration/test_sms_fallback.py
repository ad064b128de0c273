"""The WhatsApp fallback chain, run as a real `crmbus worker` against `crmbus sandbox`: while
Z-API's circuit is open a text goes through WAHA, and while WAHA's is open too it goes out as an
SMS, through Twilio or Zenvia, in that provider's shape; each message is sent once in all."""

from __future__ import annotations

import pytest

from infra.db.endpoints import Endpoints
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
