"""The seed flows a new tenant starts with, applied to the example payloads in schemas/examples."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from streams.envelope import Envelope
from streams.mapping import compile_mapping
from streams.route_filter import compile_filter
from streams.routes import DESTINATIONS, Route, fan_out
from streams.seed_flows import SEED_DESTINATIONS, SEED_ROUTES
from tests.builtin_types import CATALOGUE, paths, validate_payload
from tests.builtin_types import example as type_example
from tests.unit.sources import example
from tests.unit.sources.mappers import map_operacao

pytestmark = pytest.mark.unit

RECEIVED = datetime(2026, 3, 6, 10, 5, 1, tzinfo=UTC)
EVENT_ID = uuid.UUID("0d9a4c3e-2b1f-4e6a-9c8d-7f6e5d4c3b2a")


def event_example(event_type):
    return type_example(event_type)


def seed_routes():
    return [
        Route(
            id=seed.key,
            tenant_id="acme",
            event_type=seed.event_type,
            destination=seed.destination,
            endpoint_id=seed.destination,
            action=seed.action,
            filter=compile_filter(seed.filter, paths=paths(seed.event_type)),
            mapping=compile_mapping(seed.mapping, paths=paths(seed.event_type)),
            delay_seconds=seed.delay_seconds,
        )
        for seed in SEED_ROUTES
    ]


def planned(event_type, payload):
    """What the seed flows do with one event: route key to (request, due time or None)."""
    envelope = Envelope(
        tenant_id="acme",
        type=event_type,
        source="test",
        payload=validate_payload(event_type, payload),
        event_id=EVENT_ID,
        occurred_at=datetime(2026, 3, 6, 10, 5, tzinfo=UTC),
        received_at=RECEIVED,
    )
    result = fan_out(envelope, seed_routes())
    assert result.failures == ()
    return {delivery.route.id: (delivery.payload, delivery.not_before) for delivery in result.deliveries}


@pytest.mark.parametrize("seed", SEED_ROUTES, ids=lambda seed: seed.key)
def test_every_seed_filter_and_mapping_compiles_against_its_event_type(seed):
    assert CATALOGUE.knows("any-tenant", seed.event_type)
    compile_filter(seed.filter, paths=paths(seed.event_type))
    compile_mapping(seed.mapping, paths=paths(seed.event_type))


def test_seed_route_keys_are_unique_and_start_with_their_event_type():
    keys = [seed.key for seed in SEED_ROUTES]
    assert len(keys) == len(set(keys))
    assert all(seed.key.startswith(seed.event_type + "/") for seed in SEED_ROUTES)


def test_every_seed_route_goes_to_a_seed_destination_of_a_known_kind():
    names = {destination.name for destination in SEED_DESTINATIONS}
    # The company's REST systems are seeded for sync jobs and for routes a tenant writes itself.
    rest = {destination.name for destination in SEED_DESTINATIONS if destination.kind == "rest"}
    assert {seed.destination for seed in SEED_ROUTES} == names - rest
    assert rest == {"operacao", "cuidadores", "atendimento", "documentos", "agenda"}
    assert all(destination.kind in DESTINATIONS for destination in SEED_DESTINATIONS)
    assert len(names) == len(SEED_DESTINATIONS)


def test_seed_destinations_live_under_the_sandbox_and_hold_no_real_secret():
    assert [d.path for d in SEED_DESTINATIONS] == [
        "/crm", "/financeiro", "/zapi", "/email", "/marketing",
        "/operacao", "/cuidadores", "/atendimento", "/documentos", "/agenda",
    ]  # fmt: skip
    zapi = next(d for d in SEED_DESTINATIONS if d.kind == "zapi")
    assert (zapi.config["instance_id"], zapi.config["token"]) == ("demo", "demo")


def test_a_site_lead_is_upserted_in_the_crm_and_answered_on_whatsapp_but_not_marketed_without_consent():
    plan = planned("lead.created", event_example("lead.created"))
    assert set(plan) == {"lead.created/crm", "lead.created/zapi"}
    crm, due = plan["lead.created/crm"]
    assert due is None
    assert crm == {
        "event_id": str(EVENT_ID),
        "name": "Maria Aparecida Souza",
        "phone": "+5511987654321",
        "email": "maria.souza@example.com.br",
        "channel": "site",
        "origin": "lp-cuidador-idosos",
        "campaign": {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "cuidador-sp-2026"},
        "service_interest": "caregiver",
        "notes": "Cuidadora noturna para mãe de 82 anos.",
        "marketing_consent": False,
    }
    reply, _ = plan["lead.created/zapi"]
    assert reply["phone"] == "5511987654321"
    assert reply["message"].startswith("Olá, Maria! Recebemos seu contato")


def test_a_lead_the_crm_already_knows_keeps_its_lead_id():
    crm, _ = planned("lead.created", event_example("lead.created") | {"lead_id": "LD-7"})["lead.created/crm"]
    assert (crm["lead_id"], crm["event_id"]) == ("LD-7", str(EVENT_ID))


def test_a_lead_who_consented_is_assigned_to_the_campaign_it_came_from():
    lead = event_example("lead.created") | {"marketing_consent": True}
    marketing, _ = planned("lead.created", lead)["lead.created/marketing"]
    assert marketing["campaign"] == {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "cuidador-sp-2026"}
    assert (marketing["channel"], marketing["origin"], marketing["phone"]) == (
        "site",
        "lp-cuidador-idosos",
        "+5511987654321",
    )


def test_a_lead_that_gave_only_name_phone_and_channel_still_reaches_the_crm_and_whatsapp():
    plan = planned("lead.created", {"name": "joão", "phone": "(11) 3456-7890", "channel": "whatsapp"})
    assert set(plan) == {"lead.created/crm", "lead.created/zapi"}
    assert plan["lead.created/crm"][0] == {
        "event_id": str(EVENT_ID),
        "name": "joão",
        "phone": "+551134567890",
        "channel": "whatsapp",
        "marketing_consent": False,
    }
    assert plan["lead.created/zapi"][0]["message"].startswith("Olá, João!")


def test_a_new_client_is_welcomed_by_email_and_whatsapp_and_registered_in_financeiro():
    plan = planned("client.registered", event_example("client.registered"))
    assert set(plan) == {"client.registered/email", "client.registered/zapi", "client.registered/financeiro"}
    assert plan["client.registered/email"][0] == {
        "to": "maria.souza@example.com.br",
        "template": "boas_vindas",
        "variables": {"name": "Maria"},
    }
    welcome = plan["client.registered/zapi"][0]
    assert welcome["phone"] == "5511987654321"
    assert welcome["message"].startswith("Olá, Maria! Seu cadastro está concluído")
    customer = plan["client.registered/financeiro"][0]
    assert customer["client_id"] == "CL-000045"
    assert customer["cpf"] == "52998224725"
    assert customer["address"]["zip"] == "04028001"


def test_a_client_without_email_gets_no_welcome_email_and_financeiro_gets_no_email():
    client = event_example("client.registered")
    del client["email"], client["cpf"], client["address"]
    plan = planned("client.registered", client)
    assert set(plan) == {"client.registered/zapi", "client.registered/financeiro"}
    assert plan["client.registered/financeiro"][0] == {
        "client_id": "CL-000045",
        "name": "Maria Aparecida Souza",
        "phone": "+5511987654321",
    }


def test_a_completed_service_notifies_the_client_now_and_asks_for_a_rating_two_hours_after_it_arrived():
    [service] = map_operacao(example("operacao", "atendimento_concluido"))
    plan = planned("service.completed", service.payload)
    assert set(plan) == {
        "service.completed/zapi",
        "service.completed/zapi-feedback",
        "service.completed/financeiro",
        "service.completed/crm",
    }
    notice, due = plan["service.completed/zapi"]
    assert due is None
    assert notice == {
        "phone": "5511987654321",
        "message": "Olá, Maria! O atendimento iniciado em 05/03/2026 foi concluído às 07:00. Obrigado pela confiança!",
    }
    feedback, due = plan["service.completed/zapi-feedback"]
    assert due == RECEIVED + timedelta(hours=2)
    assert feedback["phone"] == "5511987654321"
    assert "nota de 1 a 5" in feedback["message"]


def test_a_completed_service_is_invoiced_and_updated_in_the_crm():
    plan = planned("service.completed", event_example("service.completed"))
    assert plan["service.completed/financeiro"][0] == {
        "service_id": "AT-2026-000123",
        "client_id": "CL-000045",
        "service_type": "caregiver",
        "started_at": "2026-03-05T22:00:00Z",
        "ended_at": "2026-03-06T10:00:00Z",
    }
    crm = plan["service.completed/crm"][0]
    assert (crm["status"], crm["caregiver_id"]) == ("completed", "PR-000310")


def test_a_service_without_the_clients_phone_or_name_messages_nobody():
    without_phone = event_example("service.completed") | {"client_name": "Maria"}
    without_name = event_example("service.completed") | {"client_phone": "+5511987654321"}
    for service in (without_phone, without_name):
        assert set(planned("service.completed", service)) == {
            "service.completed/financeiro",
            "service.completed/crm",
        }


def test_a_whatsapp_message_is_logged_in_the_crm_as_an_inbound_interaction():
    plan = planned("whatsapp.message.received", event_example("whatsapp.message.received"))
    assert plan["whatsapp.message.received/crm"][0] == {
        "direction": "inbound",
        "provider": "zapi",
        "instance": "3C4D8E2F1A0B4C5D9E8F7A6B5C4D3E2F",
        "message_id": "3EB0C767D097B7C7C030",
        "phone": "+5511987654321",
        "contact_name": "Maria Aparecida",
        "kind": "text",
        "text": "Boa tarde! Gostaria de saber o valor de uma cuidadora.",
        "occurred_at": "2026-03-06T10:05:00Z",
    }
