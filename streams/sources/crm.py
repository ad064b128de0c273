"""The CRM's webhooks to ``lead.updated`` and ``client.registered``.

Envelope as in ``streams.sources.own_format``. Events:

``lead.atualizado`` -> ``lead.updated``; ``dados`` holds ``lead_id`` and only what changed::

    {"lead_id": "LD-2026-0042", "status": "qualificado", "responsavel_id": "USR-07",
     "nome": "...", "telefone": "...", "email": "...", "motivo_perda": "...", "observacoes": "..."}

    status: novo, em_contato, qualificado, proposta_enviada, ganho, perdido

``cliente.cadastrado`` -> ``client.registered``::

    {"cliente_id": "CL-000045", "lead_id": "LD-2026-0042", "nome": "...", "telefone": "...",
     "email": "...", "cpf": "...",
     "endereco": {"logradouro": "...", "numero": "...", "complemento": "...", "bairro": "...",
                  "cidade": "...", "uf": "SP", "cep": "01310-100"}}

Ignored: ``lead.criado`` (leads reach us from their channels, the site and WhatsApp, before the
CRM has them; the CRM's copy would duplicate them) and ``tarefa.criada`` (the CRM's internal
to-dos). Events dedupe on ``crm:<id_evento>`` and are ordered per lead or per client id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.sources.own_format import in_dados, read_notice
from streams.sources.reading import as_object
from streams.sources.source_event import SourceEvent, canonical_event
from streams.sources.vocabulary import LEAD_STATUSES, translate

# Canonical field -> the CRM's name for it in "dados".
_LEAD = {
    "lead_id": "lead_id",
    "status": "status",
    "owner_id": "responsavel_id",
    "name": "nome",
    "phone": "telefone",
    "email": "email",
    "lost_reason": "motivo_perda",
    "notes": "observacoes",
}
_CLIENT = {
    "client_id": "cliente_id",
    "lead_id": "lead_id",
    "name": "nome",
    "phone": "telefone",
    "email": "email",
    "cpf": "cpf",
    "address": "endereco",
}
_ADDRESS = {
    "street": "logradouro",
    "number": "numero",
    "complement": "complemento",
    "neighborhood": "bairro",
    "city": "cidade",
    "state": "uf",
    "zip": "cep",
}
_LEAD_FIELDS = in_dados(_LEAD)
_CLIENT_FIELDS = in_dados(_CLIENT | {f"address.{ours}": f"endereco.{theirs}" for ours, theirs in _ADDRESS.items()})


def map_crm(body: Mapping[str, Any]) -> list[SourceEvent]:
    """The canonical event in one CRM webhook ([] for events we do not map)."""
    notice = read_notice(
        body,
        mapped=frozenset({"lead.atualizado", "cliente.cadastrado"}),
        ignored=frozenset({"lead.criado", "tarefa.criada"}),
    )
    if notice is None:
        return []
    dados = notice.dados
    if notice.evento == "lead.atualizado":
        event_type, fields, order_by = "lead.updated", _LEAD_FIELDS, "lead_id"
        payload = {ours: dados.get(theirs) for ours, theirs in _LEAD.items()}
        payload["status"] = translate(dados.get("status"), LEAD_STATUSES, "dados.status")
    else:
        event_type, fields, order_by = "client.registered", _CLIENT_FIELDS, "client_id"
        payload = {ours: dados.get(theirs) for ours, theirs in _CLIENT.items()}
        payload["address"] = _address(dados.get("endereco"))
    return [
        canonical_event(
            event_type,
            payload,
            source_fields=fields,
            occurred_at=notice.occurred_at,
            idempotency_key=f"crm:{notice.id_evento}",
            order_by=order_by,
        )
    ]


def _address(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    endereco = as_object(value, "dados.endereco")
    return {ours: endereco[theirs] for ours, theirs in _ADDRESS.items() if endereco.get(theirs) is not None}
