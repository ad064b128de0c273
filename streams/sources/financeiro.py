"""Financeiro's webhooks (billing and collection) to ``payment.received``.

Envelope as in ``streams.sources.own_format``. ``pagamento.confirmado`` carries::

    {"pagamento_id": "PG-2026-004512", "fatura_id": "FT-2026-001877", "cliente_id": "CL-000045",
     "valor": "1250.00", "moeda": "BRL", "pago_em": "2026-03-05T10:42:13-03:00",
     "forma": "pix", "parcelas": 1}

    forma: pix, boleto, cartao_credito, cartao_debito (both cards become "card")

``valor`` is a string in reais with a dot and at most two decimals: JSON numbers are refused
because a float cannot hold every amount exactly and an integer would be ambiguous (reais or
centavos?). It becomes ``amount_cents``. Only BRL is accepted.

Ignored: ``pagamento.criado``, ``pagamento.vencido`` and ``pagamento.estornado``, which have no
canonical type yet (a refund event is the next one to add). A payment is received once, so the
idempotency key is the payment (``financeiro:payment.received:<pagamento_id>``). Ordered per client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from streams.sources.own_format import in_dados, read_notice
from streams.sources.reading import as_key, invalid
from streams.sources.source_event import SourceEvent, canonical_event
from streams.sources.vocabulary import PAYMENT_METHODS, translate

_REAIS = re.compile(r"(\d{1,12})(?:\.(\d{1,2}))?")
# Canonical field -> its name in "dados".
_PAYMENT = {
    "payment_id": "pagamento_id",
    "invoice_id": "fatura_id",
    "client_id": "cliente_id",
    "amount_cents": "valor",
    "currency": "moeda",
    "paid_at": "pago_em",
    "method": "forma",
    "installments": "parcelas",
}
_FIELDS = in_dados(_PAYMENT)


def map_financeiro(body: Mapping[str, Any]) -> list[SourceEvent]:
    """The ``payment.received`` event in one Financeiro webhook ([] for events we do not map)."""
    notice = read_notice(
        body,
        mapped=frozenset({"pagamento.confirmado"}),
        ignored=frozenset({"pagamento.criado", "pagamento.vencido", "pagamento.estornado"}),
    )
    if notice is None:
        return []
    dados = notice.dados
    payment_id = as_key(dados.get("pagamento_id"), "dados.pagamento_id")
    payload = {ours: dados.get(theirs) for ours, theirs in _PAYMENT.items()}
    payload["amount_cents"] = _centavos(dados.get("valor"))
    payload["method"] = translate(dados.get("forma"), PAYMENT_METHODS, "dados.forma")
    return [
        canonical_event(
            "payment.received",
            payload,
            source_fields=_FIELDS,
            occurred_at=notice.occurred_at,
            idempotency_key=f"financeiro:payment.received:{payment_id}",
            order_by="client_id",
        )
    ]


def _centavos(value: Any) -> int:
    match = _REAIS.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise invalid("dados.valor", 'must be a string in reais with at most two decimals, e.g. "1250.00"')
    reais, cents = match.groups()
    return int(reais) * 100 + int((cents or "0").ljust(2, "0"))
