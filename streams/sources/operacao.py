"""Operação's webhooks (the scheduling system of caregivers' shifts and visits) to ``service.completed``.

Envelope as in ``streams.sources.own_format``. ``atendimento.concluido`` carries::

    {"atendimento_id": "AT-2026-000123", "cliente_id": "CL-000045", "profissional_id": "PR-000310",
     "tipo": "cuidador", "inicio": "2026-03-01T19:00:00-03:00", "fim": "2026-03-02T07:00:00-03:00",
     "observacoes": "...", "cliente_nome": "Maria Aparecida Souza", "cliente_telefone": "(11) 98765-4321"}

    tipo: cuidador, tecnico_enfermagem, enfermagem, fisioterapia, acompanhante_hospitalar, outro

``cliente_nome`` and ``cliente_telefone`` are optional: with them, the client can be greeted by name
and notified on WhatsApp that the service ended.

Ignored: ``atendimento.agendado``, ``atendimento.iniciado`` and ``atendimento.cancelado``, which
have no canonical type yet. A service completes once, so the idempotency key is the service
(``operacao:service.completed:<atendimento_id>``), not the notice: a completion re-sent under a
new ``id_evento`` still dedupes. Events are ordered per client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.sources.own_format import in_dados, read_notice
from streams.sources.reading import as_key
from streams.sources.source_event import SourceEvent, canonical_event
from streams.sources.vocabulary import SERVICE_TYPES, translate

# Canonical field -> its name in "dados".
_SERVICE = {
    "service_id": "atendimento_id",
    "client_id": "cliente_id",
    "caregiver_id": "profissional_id",
    "service_type": "tipo",
    "started_at": "inicio",
    "ended_at": "fim",
    "notes": "observacoes",
    "client_name": "cliente_nome",
    "client_phone": "cliente_telefone",
}
_FIELDS = in_dados(_SERVICE)


def map_operacao(body: Mapping[str, Any]) -> list[SourceEvent]:
    """The ``service.completed`` event in one Operação webhook ([] for events we do not map)."""
    notice = read_notice(
        body,
        mapped=frozenset({"atendimento.concluido"}),
        ignored=frozenset({"atendimento.agendado", "atendimento.iniciado", "atendimento.cancelado"}),
    )
    if notice is None:
        return []
    dados = notice.dados
    service_id = as_key(dados.get("atendimento_id"), "dados.atendimento_id")
    payload = {ours: dados.get(theirs) for ours, theirs in _SERVICE.items()}
    payload["service_type"] = translate(dados.get("tipo"), SERVICE_TYPES, "dados.tipo")
    return [
        canonical_event(
            "service.completed",
            payload,
            source_fields=_FIELDS,
            occurred_at=notice.occurred_at,
            idempotency_key=f"operacao:service.completed:{service_id}",
            order_by="client_id",
        )
    ]
