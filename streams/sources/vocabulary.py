"""The Portuguese words our own systems (site, CRM, Operação, Financeiro) use, and their canonical values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.sources.reading import invalid

SERVICE_TYPES: Mapping[str, str] = {
    "cuidador": "caregiver",
    "tecnico_enfermagem": "nursing_technician",
    "enfermagem": "nurse",
    "fisioterapia": "physiotherapy",
    "acompanhante_hospitalar": "hospital_companion",
    "outro": "other",
}

LEAD_STATUSES: Mapping[str, str] = {
    "novo": "new",
    "em_contato": "contacted",
    "qualificado": "qualified",
    "proposta_enviada": "proposal_sent",
    "ganho": "won",
    "perdido": "lost",
}

PAYMENT_METHODS: Mapping[str, str] = {
    "pix": "pix",
    "boleto": "boleto",
    "cartao_credito": "card",
    "cartao_debito": "card",
}


def translate(value: Any, words: Mapping[str, str], path: str) -> str | None:
    """The canonical value for a Portuguese ``value``; ``None`` when absent; an error listing the words."""
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().lower() not in words:
        raise invalid(path, "must be one of: " + ", ".join(words))
    return words[value.strip().lower()]
