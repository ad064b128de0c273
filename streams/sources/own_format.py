"""The webhook envelope our own systems (CRM, Operação, Financeiro) share.

    {"evento": "<noun>.<past participle>", "id_evento": "<sender's unique id>",
     "ocorrido_em": "<ISO-8601 with offset>", "dados": {...}}

``id_evento`` is required: each system already has one, and it is what dedupes a retried webhook
unless the mapper has a stronger domain key. Unknown ``evento`` values are refused, so a sender
learns at once that we do not understand it; events we know and choose not to map are listed per
source and map to no event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.sources.reading import as_key, as_object, as_text, invalid, iso_datetime


@dataclass(frozen=True, slots=True)
class Notice:
    """One webhook of our own systems, read but not yet mapped."""

    evento: str
    id_evento: str
    occurred_at: datetime | None
    dados: Mapping[str, Any]


def read_notice(body: Mapping[str, Any], *, mapped: frozenset[str], ignored: frozenset[str]) -> Notice | None:
    """The notice in ``body``, ``None`` for an ``ignored`` evento; an error for any not ``mapped``."""
    body = as_object(body, "body")
    evento = as_text(body.get("evento"), "evento")
    if evento in ignored:
        return None
    if evento not in mapped:
        raise invalid("evento", "must be one of: " + ", ".join(sorted(mapped | ignored)))
    return Notice(
        evento=evento,
        id_evento=as_key(body.get("id_evento"), "id_evento"),
        occurred_at=iso_datetime(body.get("ocorrido_em"), "ocorrido_em"),
        dados=as_object(body.get("dados"), "dados"),
    )


def in_dados(fields: Mapping[str, str]) -> dict[str, str]:
    """Canonical field paths to their ``dados.*`` paths in the body."""
    return {canonical: f"dados.{own}" for canonical, own in fields.items()}
