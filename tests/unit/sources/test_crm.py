from datetime import UTC, datetime

import pytest

from streams.errors import InvalidEventError
from tests.unit.sources import example
from tests.unit.sources.mappers import map_crm

pytestmark = pytest.mark.unit


def refusal(body):
    with pytest.raises(InvalidEventError) as raised:
        map_crm(body)
    return raised.value


def test_a_lead_update_becomes_lead_updated_with_only_what_changed():
    [event] = map_crm(example("crm", "lead_atualizado"))
    assert event.type == "lead.updated"
    assert event.payload == {
        "lead_id": "LD-2026-0042",
        "status": "qualified",
        "owner_id": "USR-07",
        "notes": "Família prefere cuidadora fixa de segunda a sexta.",
    }
    assert event.occurred_at == datetime(2026, 3, 2, 19, 30, tzinfo=UTC)
    assert (event.idempotency_key, event.ordering_key) == ("crm:crm-evt-000981", "lead_id:LD-2026-0042")


def test_a_registered_client_becomes_client_registered_with_a_normalised_address():
    [event] = map_crm(example("crm", "cliente_cadastrado"))
    assert event.type == "client.registered"
    assert event.payload["phone"] == "+5511987654321"
    assert event.payload["cpf"] == "52998224725"
    assert event.payload["address"] == {
        "street": "Avenida Ibirapuera",
        "number": "2120",
        "complement": "apto 84",
        "neighborhood": "Moema",
        "city": "São Paulo",
        "state": "SP",
        "zip": "04028001",
    }
    assert event.ordering_key == "client_id:CL-000045"


@pytest.mark.parametrize("evento", ["lead.criado", "tarefa.criada"])
def test_events_we_choose_not_to_map_are_ignored(evento):
    assert map_crm(example("crm", "lead_atualizado") | {"evento": evento}) == []


def test_an_unknown_event_is_refused_naming_evento():
    error = refusal(example("crm", "lead_atualizado") | {"evento": "lead.explodido"})
    assert error.field == "evento"
    assert "lead.atualizado" in str(error)


def test_an_unknown_lead_status_is_refused_naming_dados_status():
    body = example("crm", "lead_atualizado")
    body["dados"]["status"] = "sumido"
    assert refusal(body).field == "dados.status"


def test_a_bad_postal_code_is_refused_at_its_path_in_the_body():
    body = example("crm", "cliente_cadastrado")
    body["dados"]["endereco"]["cep"] = "0402-001"
    assert refusal(body).field == "dados.endereco.cep"


def test_a_bad_cpf_is_refused_without_its_digits():
    body = example("crm", "cliente_cadastrado")
    body["dados"]["cpf"] = "529.982.247-26"
    error = refusal(body)
    assert error.field == "dados.cpf"
    assert "982" not in str(error)


@pytest.mark.parametrize("missing", ["id_evento", "dados"])
def test_the_envelope_needs_an_event_id_and_data(missing):
    body = example("crm", "lead_atualizado")
    del body[missing]
    assert refusal(body).field == missing


def test_a_client_without_id_is_refused_naming_cliente_id():
    body = example("crm", "cliente_cadastrado")
    del body["dados"]["cliente_id"]
    assert refusal(body).field == "dados.cliente_id"
