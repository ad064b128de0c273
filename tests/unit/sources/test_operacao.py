from datetime import UTC, datetime

import pytest

from streams.errors import InvalidEventError
from tests.unit.sources import example
from tests.unit.sources.mappers import map_operacao

pytestmark = pytest.mark.unit


def refusal(body):
    with pytest.raises(InvalidEventError) as raised:
        map_operacao(body)
    return raised.value


def test_a_concluded_service_becomes_service_completed():
    [event] = map_operacao(example("operacao", "atendimento_concluido"))
    assert event.type == "service.completed"
    assert event.payload == {
        "service_id": "AT-2026-000123",
        "client_id": "CL-000045",
        "caregiver_id": "PR-000310",
        "service_type": "caregiver",
        "started_at": "2026-03-05T22:00:00Z",
        "ended_at": "2026-03-06T10:00:00Z",
        "notes": "Plantão tranquilo; medicação das 22h administrada.",
        "client_name": "Maria Aparecida Souza",
        "client_phone": "+5511987654321",
    }
    assert event.occurred_at == datetime(2026, 3, 6, 10, 5, tzinfo=UTC)
    assert event.ordering_key == "client_id:CL-000045"


def test_a_completion_resent_under_a_new_event_id_dedupes_on_the_service():
    first = map_operacao(example("operacao", "atendimento_concluido"))[0]
    again = map_operacao(example("operacao", "atendimento_concluido") | {"id_evento": "op-evt-99999"})[0]
    assert first.idempotency_key == again.idempotency_key == "operacao:service.completed:AT-2026-000123"


def test_a_service_without_the_clients_name_and_phone_still_completes():
    body = example("operacao", "atendimento_concluido")
    del body["dados"]["cliente_nome"], body["dados"]["cliente_telefone"]
    [event] = map_operacao(body)
    assert "client_name" not in event.payload
    assert "client_phone" not in event.payload


def test_an_unusable_client_phone_is_refused_naming_dados_cliente_telefone():
    body = example("operacao", "atendimento_concluido")
    body["dados"]["cliente_telefone"] = "98765"
    error = refusal(body)
    assert error.field == "dados.cliente_telefone"
    assert "98765" not in str(error)


@pytest.mark.parametrize("evento", ["atendimento.agendado", "atendimento.iniciado", "atendimento.cancelado"])
def test_other_service_events_are_ignored(evento):
    assert map_operacao(example("operacao", "atendimento_concluido") | {"evento": evento}) == []


def test_a_service_that_ends_before_it_starts_is_refused_naming_dados_fim():
    body = example("operacao", "atendimento_concluido")
    body["dados"]["fim"] = "2026-03-05T18:00:00-03:00"
    assert refusal(body).field == "dados.fim"


def test_an_unknown_service_type_is_refused_naming_dados_tipo():
    body = example("operacao", "atendimento_concluido")
    body["dados"]["tipo"] = "jardinagem"
    assert refusal(body).field == "dados.tipo"


def test_a_service_without_a_professional_is_refused_naming_dados_profissional_id():
    body = example("operacao", "atendimento_concluido")
    del body["dados"]["profissional_id"]
    assert refusal(body).field == "dados.profissional_id"
