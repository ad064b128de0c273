from datetime import UTC, datetime

import pytest

from streams.errors import InvalidEventError
from tests.unit.sources import example
from tests.unit.sources.mappers import map_site, map_zapi

pytestmark = pytest.mark.unit


def refusal(body):
    with pytest.raises(InvalidEventError) as raised:
        map_site(body)
    return raised.value


def test_a_site_form_becomes_lead_created():
    [event] = map_site(example("site", "lead_form"))
    assert event.type == "lead.created"
    assert event.payload == {
        "name": "Maria Aparecida Souza",
        "phone": "+5511987654321",
        "email": "maria.souza@example.com.br",
        "channel": "site",
        "origin": "lp-cuidador-idosos",
        "campaign": {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "cuidador-sp-2026"},
        "service_interest": "caregiver",
        "notes": "Preciso de cuidadora para minha mãe, 82 anos, no período noturno, em Moema.",
        "marketing_consent": False,
    }
    assert event.occurred_at == datetime(2026, 3, 2, 17, 5, tzinfo=UTC)
    assert event.idempotency_key == "site:0b6f1c1e-4d2a-4f7b-9a51-3c8e2d7f6a10"


def test_a_form_with_only_name_and_phone_is_a_lead_without_idempotency_key():
    [event] = map_site(example("site", "lead_form_minimal"))
    assert event.payload == {"name": "João Pereira", "phone": "+552132221000", "channel": "site"}
    assert (event.idempotency_key, event.occurred_at) == (None, None)


def test_a_filled_honeypot_is_a_bot_and_maps_to_nothing():
    assert map_site(example("site", "honeypot_filled")) == []


def test_a_lead_from_the_site_and_a_whatsapp_message_from_the_same_phone_share_an_ordering_key():
    [lead] = map_site(example("site", "lead_form"))
    [message] = map_zapi(example("zapi", "received_text"))
    assert lead.ordering_key == message.ordering_key
    assert "987654321" not in lead.ordering_key


def test_a_key_the_form_does_not_have_is_refused_by_name():
    assert refusal(example("site", "lead_form") | {"cpf": "52998224725"}).field == "cpf"


def test_a_bad_phone_is_refused_naming_telefone_but_not_its_digits():
    error = refusal(example("site", "lead_form") | {"telefone": "(11) 8765-43"})
    assert error.field == "telefone"
    assert "8765" not in str(error)


def test_an_unknown_service_is_refused_listing_the_ones_we_know():
    error = refusal(example("site", "lead_form") | {"servico": "jardinagem"})
    assert error.field == "servico"
    assert "cuidador" in str(error)
    assert "jardinagem" not in str(error)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"nome": ""}, "nome"),
        ({"email": "maria@"}, "email"),
        ({"utm_source": "x" * 101}, "utm_source"),
        ({"enviado_em": "2026-03-02T14:05:00"}, "enviado_em"),
        ({"enviado_em": "0001-01-01T00:30:00+01:00"}, "enviado_em"),
        ({"id": "not an id"}, "id"),
    ],
)
def test_bad_fields_are_refused_in_the_forms_own_names(change, field):
    assert refusal(example("site", "lead_form") | change).field == field
