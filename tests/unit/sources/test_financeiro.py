from datetime import UTC, datetime

import pytest

from streams.errors import InvalidEventError
from tests.unit.sources import example
from tests.unit.sources.mappers import map_financeiro

pytestmark = pytest.mark.unit


def with_dados(**changes):
    body = example("financeiro", "pagamento_confirmado_pix")
    body["dados"] |= changes
    return body


def refusal(body):
    with pytest.raises(InvalidEventError) as raised:
        map_financeiro(body)
    return raised.value


def test_a_confirmed_pix_payment_becomes_payment_received_in_cents():
    [event] = map_financeiro(example("financeiro", "pagamento_confirmado_pix"))
    assert event.type == "payment.received"
    assert event.payload == {
        "payment_id": "PG-2026-004512",
        "invoice_id": "FT-2026-001877",
        "client_id": "CL-000045",
        "amount_cents": 125000,
        "currency": "BRL",
        "paid_at": "2026-03-05T13:42:13Z",
        "method": "pix",
    }
    assert event.occurred_at == datetime(2026, 3, 5, 13, 42, 20, tzinfo=UTC)
    assert event.idempotency_key == "financeiro:payment.received:PG-2026-004512"
    assert event.ordering_key == "client_id:CL-000045"


def test_a_credit_card_payment_is_a_card_payment_with_installments():
    [event] = map_financeiro(example("financeiro", "pagamento_confirmado_cartao"))
    assert (event.payload["method"], event.payload["installments"], event.payload["amount_cents"]) == (
        "card",
        3,
        840050,
    )


@pytest.mark.parametrize(("valor", "cents"), [("1250", 125000), ("1250.5", 125050), ("1250.05", 125005), ("0.01", 1)])
def test_valor_in_reais_becomes_exact_cents(valor, cents):
    [event] = map_financeiro(with_dados(valor=valor))
    assert event.payload["amount_cents"] == cents


@pytest.mark.parametrize("valor", [1250.5, 125000, "1.250,00", "12.345", "-10.00", "0.00", None])
def test_a_valor_that_is_not_a_positive_amount_in_reais_is_refused(valor):
    assert refusal(with_dados(valor=valor)).field == "dados.valor"


def test_only_reais_are_accepted():
    assert refusal(with_dados(moeda="USD")).field == "dados.moeda"


def test_installments_with_pix_are_refused_naming_dados_parcelas():
    assert refusal(with_dados(parcelas=2)).field == "dados.parcelas"


def test_an_unknown_payment_method_is_refused_naming_dados_forma():
    assert refusal(with_dados(forma="cheque")).field == "dados.forma"


@pytest.mark.parametrize("evento", ["pagamento.criado", "pagamento.vencido", "pagamento.estornado"])
def test_payment_events_without_a_canonical_type_are_ignored(evento):
    assert map_financeiro(example("financeiro", "pagamento_confirmado_pix") | {"evento": evento}) == []
